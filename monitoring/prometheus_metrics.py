"""monitoring's figures on /metrics (registered with opsgov.prometheus.governance when opsgov.apps discovers it).

From the scrape's shared snapshot rows (no query of its own):

- ``opsgov_availability_ratio{service, window}``: the ``availability`` snapshots of
  service scopes, as a ratio (0-1); ``opsgov_organisation_availability_ratio{window}``
  the request-weighted organisation figure (scope ``global``);
- ``opsgov_availability_target_ratio``: the policy's availability target.

From one query over the enabled SLOs joined to their status row (the SLO engine's
latest evaluation; the buckets are never read):

- ``opsgov_slo_objective_ratio{service, slo}``: the objective, e.g. 0.999;
- ``opsgov_slo_sli_ratio{service, slo}``: good / total over the SLO's window;
- ``opsgov_slo_error_budget_remaining_ratio{service, slo}``: 1 untouched, 0 spent, negative overspent;
- ``opsgov_slo_burn_rate{service, slo, window}``: per burn-rate window (5m ... 3d);
- ``opsgov_slo_alert_firing{service, slo, alert}``: 1 while the policy's burn-rate alert fires,
  absent otherwise (as Prometheus' own ``ALERTS``: a scrape stays small with hundreds of SLOs);
- ``opsgov_slo_evaluated_timestamp_seconds`` and ``opsgov_slo_last_sli_timestamp_seconds``
  ``{service, slo}``: when the engine last evaluated it, the end of its newest SLI data;
- ``opsgov_slo_pull_success{service, slo}``: SLOs pulled from Prometheus: 1 when the
  last pull succeeded, 0 when it failed (the reason is on the SLO, ``last_pull_error``).

Labels: ``service`` is the service's slug, ``slo`` the SLO's name (unique per service).
A figure without data (an SLO not evaluated yet, a window with no events) is left
out, never shown as zero.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opsgov.policy import get_policy
from opsgov.prometheus import Family, ScrapeData, governance
from opsgov.registry import metrics

from .models import SLO, SLISource

AVAILABILITY_METRIC = "availability"
SERVICE_SCOPE = "service:"
GLOBAL_SCOPE = "global"


def _as_ratio(value: float, metric_key: str) -> float:
    """A snapshot value as a ratio: availability is stored in percent (its registered unit) unless it says ratio."""
    unit = metrics.get(metric_key).unit if metric_key in metrics else "percent"
    return value / 100 if unit == "percent" else value


def collect_availability(data: ScrapeData) -> Iterator[Family]:
    per_service = Family(
        "opsgov_availability_ratio",
        "Availability of each service over the window (good / total SLI events of its availability SLO), 0-1",
        ["service", "window"],
    )
    organisation = Family(
        "opsgov_organisation_availability_ratio",
        "Availability of the organisation: request-weighted over tier-1 services, 0-1",
        ["window"],
    )
    for row in data.snapshots(AVAILABILITY_METRIC):
        if row.value is None:
            continue
        if row.label.startswith(SERVICE_SCOPE):
            per_service.add([row.label.removeprefix(SERVICE_SCOPE), row.detail], _as_ratio(row.value, row.key))
        elif row.label == GLOBAL_SCOPE:
            organisation.add([row.detail], _as_ratio(row.value, row.key))
    yield per_service
    yield organisation
    target = Family("opsgov_availability_target_ratio", "The policy's availability target, 0-1")
    target.add([], get_policy().targets.availability_percent / 100)
    yield target


SLO_COLUMNS = (
    "service__slug",
    "name",
    "objective_percent",
    "source",
    "last_sli_at",
    "last_pull_at",
    "last_pull_error",
    "status__evaluated_at",
    "status__sli_percent",
    "status__budget_remaining",
    "status__burn_rates",
    "status__firing",
)


def slo_rows() -> list[tuple[Any, ...]]:
    """Every enabled SLO with its status columns (None where never evaluated), as SLO_COLUMNS: one query."""
    return list(SLO.objects.filter(enabled=True).order_by("service__slug", "name").values_list(*SLO_COLUMNS))


def collect_slos(data: ScrapeData) -> Iterator[Family]:
    labels = ["service", "slo"]
    objective = Family("opsgov_slo_objective_ratio", "The SLO's objective, e.g. 0.999", labels)
    sli = Family("opsgov_slo_sli_ratio", "Good / total SLI events over the SLO's window (latest evaluation)", labels)
    budget = Family(
        "opsgov_slo_error_budget_remaining_ratio",
        "Share of the window's error budget left: 1 untouched, 0 spent, negative overspent",
        labels,
    )
    burn = Family(
        "opsgov_slo_burn_rate",
        "Error budget burn rate over the window (1 = spent exactly at the end of the SLO window)",
        [*labels, "window"],
    )
    firing = Family(
        "opsgov_slo_alert_firing",
        "1 while the policy's burn-rate alert fires for the SLO (absent otherwise, like ALERTS)",
        [*labels, "alert"],
    )
    evaluated = Family("opsgov_slo_evaluated_timestamp_seconds", "When the SLO engine last evaluated the SLO", labels)
    fresh = Family("opsgov_slo_last_sli_timestamp_seconds", "End of the SLO's newest SLI interval", labels)
    pulled = Family(
        "opsgov_slo_pull_success",
        "SLOs pulled from Prometheus: 1 when the last pull succeeded, 0 when it failed",
        labels,
    )
    alert_keys = list(get_policy().monitoring.burn_rate_alerts)
    prometheus = SLISource.PROMETHEUS.value
    for row in slo_rows():
        (slug, name, objective_percent, source, last_sli_at, last_pull_at, last_pull_error) = row[:7]
        (evaluated_at, sli_percent, budget_remaining, burn_rates, now_firing) = row[7:]
        key = (slug, name)
        objective.add(key, float(objective_percent / 100))  # Decimal: 99.9 % is exactly 0.999
        if last_sli_at is not None:
            fresh.add(key, last_sli_at.timestamp())
        if source == prometheus and last_pull_at is not None:
            pulled.add(key, 0.0 if last_pull_error else 1.0)
        if evaluated_at is None:
            continue  # not evaluated yet: no figures rather than zeros
        evaluated.add(key, evaluated_at.timestamp())
        if sli_percent is not None:
            sli.add(key, sli_percent / 100)
        if budget_remaining is not None:
            budget.add(key, budget_remaining)
        if isinstance(burn_rates, dict):
            for window, rate in burn_rates.items():
                if isinstance(rate, int | float) and not isinstance(rate, bool):
                    burn.add((slug, name, str(window)), float(rate))
        if isinstance(now_firing, list):
            for alert in alert_keys:
                if alert in now_firing:
                    firing.add((slug, name, alert), 1.0)
    yield from (objective, sli, budget, burn, firing, evaluated, fresh, pulled)


def collect(data: ScrapeData) -> Iterator[Family]:
    yield from collect_availability(data)
    yield from collect_slos(data)


# Read at each scrape once opsgov discovers this module (opsgov.apps).
governance.add_collector("monitoring", collect)
