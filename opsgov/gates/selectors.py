"""Reads of the gate pages, the scorecard, the CSV export and the gates API.

Every function here costs a fixed number of queries, whatever the length of
the history: the newest (or "as of") evaluation is one indexed read, its
evidence rows are the JSON stored with it, services and teams behind the rows
are one query, and the timeline reads only the evaluations where the status
changed (a partial index).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field

from .. import selectors as core_selectors
from ..filters import FilterSet, TeamSlugFilter
from ..formatting import format_metric_value, format_target
from ..models import GateEvaluation, GateStatus, GateWaiver, MetricSnapshot, Service, Team
from ..registry import WINDOWS, Gate, MetricDefinition, metrics
from .services import SEVERITY, WAIVABLE
from .waivers import open_waivers


def evaluation_as_of(key: str, at: datetime | None = None) -> GateEvaluation | None:
    """The evaluation of gate `key` that was current at `at` (the newest at or before it); the newest if no `at`."""
    evaluations = GateEvaluation.objects.filter(gate=key)
    if at is not None:
        evaluations = evaluations.filter(evaluated_at__lte=at)
    return evaluations.order_by("-evaluated_at", "-pk").first()


def status_changes(key: str) -> QuerySet[GateEvaluation]:
    """The gate's timeline: evaluations whose status changed, newest first, without the evidence JSON."""
    return (
        GateEvaluation.objects.filter(gate=key, status_changed=True).defer("evidence").order_by("-evaluated_at", "-pk")
    )


def history(key: str) -> QuerySet[GateEvaluation]:
    """Every evaluation of the gate, newest first (for cursor pagination in the API)."""
    return GateEvaluation.objects.filter(gate=key).order_by("-evaluated_at", "-pk")


# --- Evidence rows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceRow:
    """One evidence row as pages, the CSV and the API show it: the stored JSON plus its service and team."""

    key: str
    label: str
    status: str
    detail: str
    url: str
    service_slug: str
    service: Service | None
    waiver: dict[str, Any] | None

    @property
    def status_label(self) -> str:
        return str(GateStatus(self.status).label) if self.status in GateStatus.values else self.status

    @property
    def badge(self) -> str:
        return GateStatus(self.status).badge if self.status in GateStatus.values else "muted"

    @property
    def team(self) -> Team | None:
        return self.service.owner_team if self.service is not None else None

    @property
    def waived_status_label(self) -> str:
        """What the row would be without its waiver ("Fail", "At risk")."""
        status = str((self.waiver or {}).get("status") or "")
        return str(GateStatus(status).label) if status in GateStatus.values else status

    @property
    def waiver_expires_at(self) -> datetime | None:
        return parse_datetime(str(self.waiver.get("expires_at") or "")) if self.waiver else None

    @property
    def is_problem(self) -> bool:
        return self.status in WAIVABLE

    @property
    def waivable(self) -> bool:
        """A failing or at-risk row with a key: a waiver can name it (with its service, or organisation-wide)."""
        return self.is_problem and bool(self.key)

    def as_json(self) -> dict[str, Any]:
        team = self.team
        return {
            "key": self.key,
            "label": self.label,
            "status": self.status,
            "detail": self.detail,
            "url": self.url,
            "service": self.service_slug,
            "team": team.slug if team is not None else "",
            "waiver": self.waiver,
        }


def _row(data: dict[str, Any], services: dict[str, Service]) -> EvidenceRow:
    slug = str(data.get("service") or "")
    return EvidenceRow(
        key=str(data.get("key") or ""),
        label=str(data.get("label") or ""),
        status=str(data.get("status") or ""),
        detail=str(data.get("detail") or ""),
        url=str(data.get("url") or ""),
        service_slug=slug,
        service=services.get(slug),
        waiver=data.get("waiver") or None,
    )


def services_by_slug(slugs: set[str]) -> dict[str, Service]:
    if not slugs:
        return {}
    return {service.slug: service for service in Service.objects.filter(slug__in=slugs).select_related("owner_team")}


def evidence_rows(*evaluations: GateEvaluation | None) -> dict[int, list[EvidenceRow]]:
    """The rows of each evaluation given, keyed by evaluation id, with services and teams (one query in all)."""
    present = [evaluation for evaluation in evaluations if evaluation is not None]
    slugs = {
        str(row.get("service")) for evaluation in present for row in evaluation.evidence or [] if row.get("service")
    }
    services = services_by_slug(slugs)
    return {evaluation.pk: [_row(row, services) for row in evaluation.evidence or []] for evaluation in present}


@dataclass(frozen=True)
class RowCounts:
    fail: int = 0
    at_risk: int = 0
    waived: int = 0
    passed: int = 0

    @property
    def problems(self) -> int:
        return self.fail + self.at_risk


def count_rows(evaluation: GateEvaluation | None) -> RowCounts:
    statuses = [row.get("status") for row in (evaluation.evidence if evaluation else None) or []]
    return RowCounts(
        fail=statuses.count(GateStatus.FAIL),
        at_risk=statuses.count(GateStatus.AT_RISK),
        waived=statuses.count(GateStatus.WAIVED),
        passed=statuses.count(GateStatus.PASS),
    )


@extend_schema_field({"type": "array", "items": {"type": "string"}, "description": "Service slug(s)"})
class ServiceSlugFilter(django_filters.ModelMultipleChoiceFilter):
    """`?service=checkout&service=auth`; an unknown slug is a 400 naming the field."""


class EvidenceFilterSet(FilterSet):
    """Filters of a gate's evidence rows: service, owning team, row status and a text search.

    Rows live in their evaluation's JSON; the service and team filters go
    through the Service table (one query for the slugs they allow), the status
    and `q` filters are applied to the rows. The same FilterSet drives the gate
    page, the scorecard-free API detail and the CSV export; unknown slugs are
    form errors (400 in the API).
    """

    service = ServiceSlugFilter(
        field_name="slug", to_field_name="slug", queryset=Service.objects.order_by("name"), label="Service"
    )
    team = TeamSlugFilter(
        field_name="owner_team__slug", to_field_name="slug", queryset=Team.objects.order_by("name"), label="Team"
    )
    status = django_filters.MultipleChoiceFilter(choices=GateStatus.choices, method="keep", label="Status")
    q = django_filters.CharFilter(method="keep", label="Search")

    class Meta:
        model = Service
        fields = ["service", "team", "status", "q"]

    def keep(self, queryset: QuerySet[Service], name: str, value: Any) -> QuerySet[Service]:
        """Row filters: they do not narrow the services (see `filter_rows`)."""
        return queryset

    @property
    def is_filtered(self) -> bool:
        return bool(
            self.is_bound and self.is_valid() and any(self.form.cleaned_data.get(name) for name in self.filters)
        )

    def filter_rows(self, rows: list[EvidenceRow]) -> list[EvidenceRow]:
        """The rows the (valid parts of the) filters keep."""
        if not self.is_bound:
            return rows
        self.is_valid()
        data = getattr(self.form, "cleaned_data", {})
        if data.get("service") or data.get("team"):
            allowed = set(self.qs.values_list("slug", flat=True))
            rows = [row for row in rows if row.service_slug in allowed]
        if data.get("status"):
            wanted = set(data["status"])
            rows = [row for row in rows if row.status in wanted]
        text = (data.get("q") or "").strip().lower()
        if text:
            rows = [row for row in rows if text in f"{row.key} {row.label} {row.detail}".lower()]
        return rows


# --- Gates index ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateOverview:
    gate: Gate
    evaluation: GateEvaluation | None
    counts: RowCounts

    @property
    def status(self) -> str:
        # A gate never evaluated has no evidence: it must never look like a pass.
        return self.evaluation.status if self.evaluation is not None else GateStatus.NO_EVIDENCE

    @property
    def status_label(self) -> str:
        return str(GateStatus(self.status).label)

    @property
    def badge(self) -> str:
        return GateStatus(self.status).badge


def gate_overview() -> list[GateOverview]:
    """Every registered gate with its newest evaluation and the count of its rows per status (one query)."""
    return [
        GateOverview(gate=state.gate, evaluation=state.evaluation, counts=count_rows(state.evaluation))
        for state in core_selectors.gate_states()
    ]


# --- Service scorecard ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScorecardGate:
    """One gate as it stands for one service: the service's rows and their worst status."""

    gate: Gate
    evaluation: GateEvaluation | None
    rows: list[EvidenceRow]

    @property
    def status(self) -> str:
        if not self.rows:
            return GateStatus.NO_EVIDENCE
        return max((row.status for row in self.rows), key=lambda status: SEVERITY.get(status, 0))

    @property
    def status_label(self) -> str:
        return str(GateStatus(self.status).label) if self.status in GateStatus.values else self.status

    @property
    def badge(self) -> str:
        return GateStatus(self.status).badge if self.status in GateStatus.values else "muted"

    @property
    def gate_status(self) -> str:
        return self.evaluation.status if self.evaluation is not None else GateStatus.NO_EVIDENCE

    @property
    def gate_status_label(self) -> str:
        return str(GateStatus(self.gate_status).label)


@dataclass(frozen=True)
class MetricFigure:
    window: str
    value: str
    verdict: str  # "met", "missed" or "" (no data or no target)
    sample_size: int | None
    computed_at: datetime | None

    @property
    def has_data(self) -> bool:
        return self.value != "no data"

    @property
    def badge(self) -> str:
        return {"met": "success", "missed": "danger"}.get(self.verdict, "muted")

    @property
    def verdict_label(self) -> str:
        return {"met": "Target met", "missed": "Target missed"}.get(self.verdict, "No data")


@dataclass(frozen=True)
class MetricLine:
    definition: MetricDefinition
    target: str
    figures: list[MetricFigure] = field(default_factory=list)


def format_metric(definition: MetricDefinition, value: float) -> str:
    """A metric value in its unit, as the dashboard writes it (opsgov.formatting): "3 h 12 min", "99.95 %"."""
    return format_metric_value(value, definition.unit)


def _figure(definition: MetricDefinition, window: str, snapshot: MetricSnapshot | None) -> MetricFigure:
    if snapshot is None:
        return MetricFigure(window=window, value="no data", verdict="", sample_size=None, computed_at=None)
    details = snapshot.details or {}
    if snapshot.value is None:
        if details.get("no_failures") and definition.comparison.startswith(">"):
            # e.g. MTBF with no failure in the window: better than any "more than" target.
            display = str(details.get("display") or f"> {window}")
            return MetricFigure(window, display, "met", snapshot.sample_size, snapshot.computed_at)
        return MetricFigure(window, "no data", "", snapshot.sample_size, snapshot.computed_at)
    met = definition.meets_target(snapshot.value)
    verdict = "" if met is None else ("met" if met else "missed")
    return MetricFigure(
        window, format_metric(definition, snapshot.value), verdict, snapshot.sample_size, snapshot.computed_at
    )


def service_metrics(service: Service) -> list[MetricLine]:
    """Every registered metric for the service over each window, against its target (one query)."""
    scope = f"service:{service.slug}"
    snapshots = {(row.metric, row.window): row for row in core_selectors.latest_snapshots().filter(scope=scope)}
    lines = []
    for definition in metrics.all():
        target = format_target(definition.comparison, definition.target(), definition.unit)
        figures = [_figure(definition, window, snapshots.get((definition.key, window))) for window in WINDOWS]
        lines.append(MetricLine(definition=definition, target=target, figures=figures))
    return lines


def scorecard_gates(service: Service) -> list[ScorecardGate]:
    """Every registered gate with the rows of its newest evaluation that concern the service (one query)."""
    states = core_selectors.gate_states()
    services = {service.slug: service}
    cards = []
    for state in states:
        rows = [
            _row(row, services)
            for row in (state.evaluation.evidence if state.evaluation else None) or []
            if row.get("service") == service.slug
        ]
        cards.append(ScorecardGate(gate=state.gate, evaluation=state.evaluation, rows=rows))
    return cards


def service_waivers(service: Service) -> list[GateWaiver]:
    """The service's waivers still open (pending or active), soonest expiry first."""
    return list(open_waivers().filter(service=service))
