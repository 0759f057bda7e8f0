"""The SRE lead's dashboard: what it shows and where each figure comes from.

Reads only current-state tables, in a fixed number of queries whatever the
amount of history (DESIGN.md, "Targets"):

* the newest stored evaluation of every gate (one query: an indexed subquery per gate);
* the current ``global`` / ``30d`` metric snapshots (one query over the current rows);
* a 90-day trend of each of those metrics: the daily trend points that
  compute_metrics keeps (one query, at most 90 rows per metric);
* the panels other apps register (open incidents, on call now, SLOs at risk),
  each a fixed number of queries over current-state tables.

Panels
------
opsgov may not import its sibling apps (DESIGN.md, "Layout"). An app shows
something on the dashboard by registering a :class:`DashboardPanel` in its
``dashboard_panels`` module (discovered by opsgov.apps): a key, a title, a template partial and a ``context(now=...)``
callable returning the partial's context. The callable must read current state
only (no history scans) and use a number of queries that does not depend on
the data; the dashboard's query-count test holds every registered panel to it.

What cannot wait goes above the fold: a panel may also give an ``attention(now=...)``
callable returning :class:`Attention` items (a tier-1 service that has spent its
SLO error budget, say), which the dashboard lists at its top, before the gates,
in panel order. The same rules hold: current state only, fixed queries.

Metric rows
-----------
The rows are the policy's targets (``Policy.targets``, the seed's table:
availability, MTTA, MTTR, MTBF, support satisfaction, backup success rate, patch
compliance), in that order, followed by any other registered metric. A target
whose metric no installed app registers yet is still a row, with the policy's
target and "no data": a missing measurement is shown, never hidden.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from django.db.models import Subquery
from django.urls import NoReverseMatch, reverse

from .formatting import format_metric_value, format_target
from .humanize import ago
from .models import GateEvaluation, GateStatus, MetricSnapshot, MetricTrendPoint
from .policy import Span, get_policy
from .registry import KeyedRegistry, MetricDefinition, metrics
from .selectors import GateState, gate_states, latest_snapshots

# --- Panels ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attention:
    """Something that needs attention now, listed at the top of the dashboard by the panel that knows of it.

    ``label`` names the kind of problem in words (never by colour alone), ``text``
    says what is affected, ``url`` leads to it and ``detail`` gives the figure.
    """

    label: str
    text: str
    url: str = ""
    detail: str = ""
    #: The badge tone: "danger" or "warning".
    tone: str = "danger"


@dataclass(frozen=True)
class DashboardPanel:
    """A box on the dashboard contributed by an app: its template partial and the context it needs."""

    key: str
    title: str
    template: str
    #: Called as ``context(now=...)``; returns the partial's context. Current state only, fixed queries.
    context: Callable[..., Mapping[str, Any]]
    #: Panels are shown by ascending order, then key.
    order: int = 100
    #: Called as ``attention(now=...)``; what to list above the fold. Current state only, fixed queries.
    attention: Callable[..., Sequence[Attention]] | None = None


class PanelRegistry(KeyedRegistry[DashboardPanel]):
    label = "dashboard panel"

    def all(self) -> list[DashboardPanel]:
        return sorted(self._entries.values(), key=lambda panel: (panel.order, panel.key))


panels = PanelRegistry()


@dataclass(frozen=True)
class RenderedPanel:
    """A panel with its context, ready for ``{% include panel.template with ... %}``."""

    key: str
    title: str
    template: str
    context: Mapping[str, Any]


def panel_contexts(*, now: datetime) -> list[RenderedPanel]:
    return [
        RenderedPanel(key=panel.key, title=panel.title, template=panel.template, context=panel.context(now=now))
        for panel in panels.all()
    ]


def attention_items(*, now: datetime) -> list[Attention]:
    """What the registered panels say needs attention now, in panel order: the top of the dashboard."""
    items: list[Attention] = []
    for panel in panels.all():
        if panel.attention is not None:
            items.extend(panel.attention(now=now))
    return items


# --- Gates -------------------------------------------------------------------------------------

#: Failing evidence rows shown under a gate on the dashboard (the gate page lists them all).
EVIDENCE_SHOWN = 3


def gate_url(key: str) -> str:
    """The gate's page: its named route when installed, else its documented path ``/gates/<key>/``."""
    try:
        return reverse("gate-detail", kwargs={"key": key})
    except NoReverseMatch:
        # The gate pages are their own module (opsgov.gates.views); this is the path they serve.
        return f"/gates/{key}/"


@dataclass(frozen=True)
class EvidenceLink:
    label: str
    detail: str
    url: str
    service: str


@dataclass(frozen=True)
class GateCard:
    """One gate as the dashboard shows it: status in colour and words, reason, failing evidence, link."""

    step: int
    key: str
    title: str
    description: str
    owner_roles: tuple[str, ...]
    status: str
    status_label: str
    badge: str
    reason: str
    evaluated_at: datetime | None
    evaluated_ago: str
    failing: int
    at_risk: int
    evidence: list[EvidenceLink]
    url: str


def _evidence_counts(evidence: Any) -> tuple[int, int, list[EvidenceLink]]:
    """(failing rows, at-risk rows, the first failing (else at-risk) rows) of a stored evaluation's evidence."""
    rows = [row for row in evidence if isinstance(row, dict)] if isinstance(evidence, list) else []
    failing = [row for row in rows if row.get("status") == GateStatus.FAIL]
    at_risk = [row for row in rows if row.get("status") == GateStatus.AT_RISK]
    shown = (failing or at_risk)[:EVIDENCE_SHOWN]
    links = [
        EvidenceLink(
            label=str(row.get("label", "")),
            detail=str(row.get("detail", "")),
            url=str(row.get("url", "")),
            service=str(row.get("service", "")),
        )
        for row in shown
    ]
    return len(failing), len(at_risk), links


def gate_card(
    *,
    step: int,
    key: str,
    title: str,
    description: str,
    owner_roles: tuple[str, ...],
    evaluation: GateEvaluation | None,
    now: datetime,
) -> GateCard:
    # A gate never evaluated has no evidence: it must never look like a pass.
    status = GateStatus(evaluation.status) if evaluation else GateStatus.NO_EVIDENCE
    failing, at_risk, links = _evidence_counts(evaluation.evidence if evaluation else [])
    return GateCard(
        step=step,
        key=key,
        title=title,
        description=description,
        owner_roles=owner_roles,
        status=status.value,
        status_label=str(status.label),
        badge=status.badge,
        reason=evaluation.reason if evaluation else "Not evaluated yet.",
        evaluated_at=evaluation.evaluated_at if evaluation else None,
        evaluated_ago=ago(evaluation.evaluated_at, now, on_page=True) if evaluation else "never",
        failing=failing,
        at_risk=at_risk,
        evidence=links,
        url=gate_url(key),
    )


def gate_cards(*, now: datetime, states: list[GateState] | None = None) -> list[GateCard]:
    """Every registered gate in seed order with its newest evaluation: one query (none when `states` are given)."""
    return [
        gate_card(
            step=state.gate.step,
            key=state.gate.key,
            title=state.gate.title,
            description=state.gate.description,
            owner_roles=state.gate.owner_roles,
            evaluation=state.evaluation,
            now=now,
        )
        for state in (gate_states() if states is None else states)
    ]


def gate_summary(cards: list[GateCard]) -> list[dict[str, Any]]:
    counts: dict[str, int] = defaultdict(int)
    for card in cards:
        counts[card.status] += 1
    return [
        {"status": status.value, "label": str(status.label), "badge": status.badge, "count": counts[status.value]}
        for status in GateStatus
    ]


# --- Metrics -----------------------------------------------------------------------------------

Unit = Literal["seconds", "percent", "score", "ratio"]
Comparison = Literal[">", ">=", "<", "<="]

#: The scope and window of the dashboard's figures (DESIGN.md: targets are judged over 30 days).
SCOPE = "global"
WINDOW = "30d"
#: Days of trend drawn by the sparklines.
TREND_DAYS = 90


@dataclass(frozen=True)
class SeedMetric:
    """How a policy target (a field of ``Policy.targets``) maps to the metric that measures it.

    ``key`` is the MetricSnapshot metric key the measuring app registers; until
    one does, the row uses this title, unit and comparison with the policy's target.
    """

    target_field: str
    key: str
    title: str
    unit: Unit
    comparison: Comparison


#: The seed's "Operational metrics" table, in its order.
SEED_METRICS: tuple[SeedMetric, ...] = (
    SeedMetric("availability_percent", "availability", "Availability", "percent", ">"),
    SeedMetric("mtta", "mtta", "Mean time to acknowledge (MTTA)", "seconds", "<"),
    SeedMetric("mttr", "mttr", "Mean time to resolve (MTTR)", "seconds", "<"),
    SeedMetric("mtbf", "mtbf", "Mean time between failures (MTBF)", "seconds", ">"),
    SeedMetric("support_satisfaction", "support_satisfaction", "Support satisfaction (CSAT)", "score", ">"),
    SeedMetric("backup_success_percent", "backup_success_rate", "Backup success rate", "percent", ">="),
    SeedMetric("patch_compliance_percent", "patch_compliance", "Patch compliance", "percent", ">"),
)


def format_value(value: float | None, unit: str) -> str:
    """A figure in its unit for people: "99.95 %", "6 min 30 s", "4.62", "55 %" (opsgov.formatting)."""
    return format_metric_value(value, unit)


def _policy_target(field_name: str) -> float:
    value = getattr(get_policy().targets, field_name)
    if isinstance(value, Span):
        return value.approximate().total_seconds()
    return float(value)


def _meets(value: float, comparison: str, target: float) -> bool:
    return {">": value > target, ">=": value >= target, "<": value < target, "<=": value <= target}[comparison]


@dataclass(frozen=True)
class MetricRow:
    """One operational metric against its target, as the dashboard, the CSV and the reports show it."""

    key: str
    title: str
    unit: str
    comparison: str
    target: float
    registered: bool
    snapshot: MetricSnapshot | None
    trend: list[tuple[date, float | None]] = field(default_factory=list)

    @property
    def value(self) -> float | None:
        return self.snapshot.value if self.snapshot else None

    @property
    def details(self) -> dict[str, Any]:
        return dict(self.snapshot.details) if self.snapshot and isinstance(self.snapshot.details, dict) else {}

    @property
    def has_data(self) -> bool:
        return self.snapshot is not None and (self.value is not None or bool(self.details.get("no_failures")))

    @property
    def verdict(self) -> Literal["met", "missed", "no_data", "at_risk"]:
        """Met or missed against the target; "no_data" without a figure.

        A window without any failure has no MTBF figure but meets an "above" target
        (``details["no_failures"]``, see incidents.metrics).
        """
        if self.snapshot is None:
            return "no_data"
        if self.value is not None and self.details.get("too_few_answers"):
            # Too small a sample to judge (support satisfaction under the policy's minimum): never met.
            return "at_risk"
        if self.value is None:
            if self.details.get("no_failures") and self.comparison.startswith(">"):
                return "met"
            return "no_data"
        return "met" if _meets(self.value, self.comparison, self.target) else "missed"

    @property
    def verdict_label(self) -> str:
        return {"met": "Met", "missed": "Missed", "no_data": "No data", "at_risk": "At risk (too few answers)"}[
            self.verdict
        ]

    @property
    def badge(self) -> str:
        return {"met": "success", "missed": "danger", "no_data": "muted", "at_risk": "warning"}[self.verdict]

    @property
    def display(self) -> str:
        if self.value is None and self.snapshot is not None and self.details.get("display"):
            return str(self.details["display"])
        return format_value(self.value, self.unit)

    @property
    def target_display(self) -> str:
        return format_target(self.comparison, self.target, self.unit)

    @property
    def computed_at(self) -> datetime | None:
        return self.snapshot.computed_at if self.snapshot else None

    @property
    def sample_size(self) -> int:
        return self.snapshot.sample_size if self.snapshot else 0

    @property
    def sparkline(self) -> Sparkline:
        return Sparkline.of(self.trend, target=self.target, unit=self.unit)


@dataclass(frozen=True)
class MetricSpec:
    """What a row needs before the snapshots are read: key, title, unit, comparison, target."""

    key: str
    title: str
    unit: str
    comparison: str
    target: float
    registered: bool


def _from_definition(definition: MetricDefinition, title: str | None = None) -> MetricSpec:
    return MetricSpec(
        key=definition.key,
        title=title or definition.title,
        unit=definition.unit,
        comparison=definition.comparison,
        target=float(definition.target()),
        registered=True,
    )


def metric_specs() -> list[MetricSpec]:
    """The rows: every policy target (measured by a registered metric or not), then the other registered metrics.

    A registered metric brings its own unit, comparison and target (read from the
    policy by the app that measures it); an unregistered one uses the seed mapping
    and the policy's target, so its row still says what is expected.
    """
    seeds = {seed.target_field: seed for seed in SEED_METRICS}
    specs: list[MetricSpec] = []
    targets = type(get_policy().targets).model_fields
    for field_name, info in targets.items():
        seed = seeds.get(field_name)
        key = seed.key if seed else field_name.removesuffix("_percent")
        title = seed.title if seed else field_name.replace("_", " ").capitalize()
        if key in metrics:
            specs.append(_from_definition(metrics.get(key), title))
        else:
            specs.append(
                MetricSpec(
                    key=key,
                    title=title,
                    unit=seed.unit if seed else ("percent" if field_name.endswith("_percent") else "score"),
                    comparison=seed.comparison if seed else _comparison_of(info),
                    target=_policy_target(field_name),
                    registered=False,
                )
            )
    shown = {spec.key for spec in specs}
    specs.extend(_from_definition(definition) for definition in metrics.all() if definition.key not in shown)
    return specs


def _comparison_of(info: Any) -> Comparison:
    """A comparison read from a target's description ("... below this" / "... at least this")."""
    text = str(info.description).lower()
    if "below" in text:
        return "<"
    if "at least" in text:
        return ">="
    return ">"


def current_snapshots(keys: list[str], *, scope: str = SCOPE, window: str = WINDOW) -> dict[str, MetricSnapshot]:
    """The current snapshot of each metric for one scope and window: one query over the current rows."""
    rows = latest_snapshots().filter(metric__in=keys, scope=scope, window=window)
    return {row.metric: row for row in rows}


def trend_values(
    keys: list[str], *, now: datetime, days: int = TREND_DAYS, scope: str = SCOPE, window: str = WINDOW
) -> dict[str, list[tuple[date, float | None]]]:
    """One value per UTC day and metric over the last `days` days (today included): one query.

    Reads the daily trend points (MetricTrendPoint: the day's last computed value,
    written with the snapshots), at most `days` rows per metric through the
    (metric, scope, window, day) index, whatever the snapshot history.
    """
    if not keys:
        return {}
    today = now.astimezone(UTC).date()
    rows = (
        MetricTrendPoint.objects.filter(
            metric__in=keys, scope=scope, window=window, day__gt=today - timedelta(days=days), day__lte=today
        )
        .order_by("metric", "day")
        .values_list("metric", "day", "value")
    )
    result: dict[str, list[tuple[date, float | None]]] = {key: [] for key in keys}
    for metric, day, value in rows:
        result[metric].append((day, value))
    return result


def metric_rows(*, now: datetime, with_trend: bool = True) -> list[MetricRow]:
    """The dashboard's metric table: two queries (current snapshots, 90-day trend), one without the trend."""
    specs = metric_specs()
    keys = [spec.key for spec in specs]
    current = current_snapshots(keys)
    trends = trend_values(keys, now=now) if with_trend else {}
    return [
        MetricRow(
            key=spec.key,
            title=spec.title,
            unit=spec.unit,
            comparison=spec.comparison,
            target=spec.target,
            registered=spec.registered,
            snapshot=current.get(spec.key),
            trend=trends.get(spec.key, []),
        )
        for spec in specs
    ]


def snapshots_as_of(
    keys: list[str], *, at: datetime, scope: str = SCOPE, window: str = WINDOW
) -> dict[str, MetricSnapshot]:
    """The newest snapshot computed at or before `at` of each metric: one query, an index entry per key."""
    if not keys:
        return {}
    newest = [
        Subquery(
            MetricSnapshot.objects.filter(metric=key, scope=scope, window=window, computed_at__lte=at)
            .order_by("-computed_at")
            .values("pk")[:1]
        )
        for key in keys
    ]
    return {row.metric: row for row in MetricSnapshot.objects.filter(pk__in=newest)}


# --- Sparklines ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sparkline:
    """A small server-rendered SVG line of a metric's daily values, broken where a day's figure was "no data"."""

    width: int
    height: int
    paths: list[str]
    last: tuple[float, float] | None
    target_y: float | None
    days: int
    low: str
    high: str

    WIDTH = 120
    HEIGHT = 28
    PAD = 3

    @classmethod
    def of(cls, points: list[tuple[date, float | None]], *, target: float | None = None, unit: str = "") -> Sparkline:
        values = [value for _, value in points if value is not None]
        if not points or not values:
            return cls(cls.WIDTH, cls.HEIGHT, [], None, None, 0, "", "")
        low, high = min(values), max(values)
        span = high - low
        first_day = points[0][0]
        days = max((points[-1][0] - first_day).days, 1)
        inner_w, inner_h = cls.WIDTH - 2 * cls.PAD, cls.HEIGHT - 2 * cls.PAD

        def x(day: date) -> float:
            return round(cls.PAD + inner_w * (day - first_day).days / days, 1)

        def y(value: float) -> float:
            share = 0.5 if span == 0 else (value - low) / span
            return round(cls.PAD + inner_h * (1 - share), 1)

        paths: list[str] = []
        run: list[str] = []
        for day, value in points:
            if value is None:  # computed, but no data that day: the line breaks
                if run:
                    paths.append(" ".join(run))
                run = []
            else:  # days without a point (the task did not run) are bridged
                run.append(f"{'M' if not run else 'L'}{x(day)},{y(value)}")
        if run:
            paths.append(" ".join(run))
        last_day, last_value = next((d, v) for d, v in reversed(points) if v is not None)
        target_y = y(target) if target is not None and low <= target <= high and span else None
        return cls(
            cls.WIDTH,
            cls.HEIGHT,
            paths,
            (x(last_day), y(last_value)),
            target_y,
            len(values),
            format_value(low, unit),
            format_value(high, unit),
        )

    @property
    def empty(self) -> bool:
        return not self.paths
