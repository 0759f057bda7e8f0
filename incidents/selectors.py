"""Reads of the incidents app: stored MTTA / MTTR / MTBF figures for a service or team page.

These read MetricSnapshot rows (written by ``opsgov.services.compute_metrics`` from
``incidents.metrics``), never the incident history, so their cost is fixed: one query
whatever the number of incidents or of snapshots stored. The reads of ingestion (unknown
routing-label values of an integration, alert signal statuses) are in incidents.ingest.selectors.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opsgov.formatting import format_duration
from opsgov.models import MetricSnapshot, Service, Team
from opsgov.registry import WINDOWS, MetricDefinition, metrics
from opsgov.selectors import latest_snapshots

from .metrics import DEFINITIONS

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
