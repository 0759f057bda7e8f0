"""Reads of the incidents app: stored MTTA / MTTR / MTBF figures for a service or team page, and the
unknown routing-label values of an integration.

These read MetricSnapshot rows (written by ``opsgov.services.compute_metrics`` from
``incidents.metrics``), never the incident history, so their cost is fixed: one query
whatever the number of incidents or of snapshots stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Prefetch
from django.utils import timezone

from opsgov.formatting import format_duration
from opsgov.models import MetricSnapshot, Service, Team
from opsgov.registry import WINDOWS, MetricDefinition, metrics
from opsgov.selectors import latest_snapshots

from .metrics import DEFINITIONS
from .models import Incident, Integration, TimelineEvent, TimelineKind, UnknownRoutingValue
from .routing import UNKNOWN_VALUES_DAYS

METRIC_KEYS: tuple[str, ...] = tuple(definition.key for definition in DEFINITIONS)


@dataclass(frozen=True)
class IncidentMetricFigure:
    """One metric's newest stored figure for a scope and window, with its target.

    ``snapshot`` is None until the metric has been computed for the scope.
    """

    definition: MetricDefinition
    scope: str
    window: str
    snapshot: MetricSnapshot | None

    @property
    def key(self) -> str:
        return self.definition.key

    @property
    def title(self) -> str:
        return self.definition.title

    @property
    def value(self) -> float | None:
        return self.snapshot.value if self.snapshot else None

    @property
    def sample_size(self) -> int:
        return self.snapshot.sample_size if self.snapshot else 0

    @property
    def details(self) -> dict[str, Any]:
        return dict(self.snapshot.details) if self.snapshot else {}

    @property
    def computed_at(self) -> datetime | None:
        return self.snapshot.computed_at if self.snapshot else None

    @property
    def target(self) -> float:
        """The policy target in seconds (MTTA/MTTR below it, MTBF above it)."""
        return self.definition.target()

    @property
    def meets_target(self) -> bool | None:
        """True/False against the target; None without a figure. No failure at all meets an MTBF target."""
        if self.snapshot is None:
            return None
        if self.value is None:
            return True if self.details.get("no_failures") and self.definition.comparison.startswith(">") else None
        return self.definition.meets_target(self.value)

    @property
    def display(self) -> str:
        """The figure for people: "6 min", "2 h 5 min", "> 30 days" (no failure), "—" (nothing to measure)."""
        if self.value is None:
            return str(self.details.get("display") or "—")
        return format_duration(self.value)


def latest_incident_snapshots(
    scopes: Iterable[str], windows: Iterable[str] = tuple(WINDOWS)
) -> dict[tuple[str, str, str], MetricSnapshot]:
    """The current MTTA, MTTR and MTBF snapshot of each scope and window, keyed (metric, scope, window): one query
    over the current rows (an index read, whatever the history)."""
    rows = latest_snapshots().filter(metric__in=METRIC_KEYS, scope__in=list(scopes), window__in=list(windows))
    return {(row.metric, row.scope, row.window): row for row in rows}


def scope_incident_metrics(scope: str, window: str = "30d") -> list[IncidentMetricFigure]:
    """The newest MTTA, MTTR and MTBF figures of `scope` over `window`, in that order: one query."""
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r} (one of {', '.join(WINDOWS)})")
    rows = latest_incident_snapshots([scope], [window])
    definitions = {definition.key: definition for definition in DEFINITIONS}
    return [
        IncidentMetricFigure(
            definition=metrics.get(key) if key in metrics else definitions[key],
            scope=scope,
            window=window,
            snapshot=rows.get((key, scope, window)),
        )
        for key in METRIC_KEYS
    ]


def service_incident_metrics(service: Service, window: str = "30d") -> list[IncidentMetricFigure]:
    """MTTA, MTTR and MTBF of one service (scope ``service:<slug>``): one query."""
    return scope_incident_metrics(f"service:{service.slug}", window)


def team_incident_metrics(team: Team, window: str = "30d") -> list[IncidentMetricFigure]:
    """MTTA, MTTR and MTBF of a team's services together (scope ``team:<slug>``): one query."""
    return scope_incident_metrics(f"team:{team.slug}", window)


# --- Routing: unknown label values of an integration ------------------------------------


@dataclass(frozen=True)
class UnknownValueCount:
    """A routing-label value that matched no service: how often it came over the days shown, and when last."""

    value: str
    count: int
    last_seen_at: datetime


def unknown_values_first_day(now: datetime | None = None) -> date:
    """The first UTC day the integration page and API show: the last UNKNOWN_VALUES_DAYS days, today included."""
    today = (now or timezone.now()).astimezone(UTC).date()
    return today - timedelta(days=UNKNOWN_VALUES_DAYS - 1)


def recent_unknown_values_prefetch(now: datetime | None = None) -> Prefetch[Any]:
    """For a list of integrations: their shown rows in one query, read by `unknown_routing_values`."""
    return Prefetch(
        "unknown_routing_values",
        queryset=UnknownRoutingValue.objects.filter(day__gte=unknown_values_first_day(now)),
        to_attr="recent_unknown_routing_values",
    )


def unknown_routing_values(integration: Integration, *, now: datetime | None = None) -> list[UnknownValueCount]:
    """Unknown routing values of the last 7 days, most frequent first (bounded: routing.MAX_VALUES_PER_DAY a day).

    Uses the rows prefetched by `recent_unknown_values_prefetch` when present, else one query.
    """
    rows: Iterable[UnknownRoutingValue] | None = getattr(integration, "recent_unknown_routing_values", None)
    if rows is None:
        rows = integration.unknown_routing_values.filter(day__gte=unknown_values_first_day(now))
    counts: dict[str, int] = {}
    last_seen: dict[str, datetime] = {}
    for row in rows:
        counts[row.value] = counts.get(row.value, 0) + row.count
        last_seen[row.value] = max(last_seen.get(row.value, row.last_seen_at), row.last_seen_at)
    return sorted(
        (UnknownValueCount(value=value, count=count, last_seen_at=last_seen[value]) for value, count in counts.items()),
        key=lambda item: (-item.count, item.value),
    )


def signal_statuses(incident: Incident) -> dict[str, str]:
    """Alert fingerprint -> its latest status ("firing", "resolved"), from the incident's SIGNAL timeline entries."""
    latest: dict[str, str] = {}
    for fingerprint, status in (
        TimelineEvent.objects.filter(incident=incident, kind=TimelineKind.SIGNAL)
        .order_by("id")
        .values_list("data__fingerprint", "data__status")
    ):
        if fingerprint:
            latest[str(fingerprint)] = str(status)
    return latest
