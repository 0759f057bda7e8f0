"""The maintenance area's operational metrics (definitions in maintenance.selectors' docstring).

- ``patch_compliance`` (percent, target ``targets.patch_compliance_percent``, above it): per
  organisation, service and asset.
- ``schedule_adherence`` (percent, at least 100 % of the cadences done on time is the goal: target 100).
- ``change_success_rate`` / ``change_failure_rate`` / ``emergency_change_share`` (percent).
"""

from __future__ import annotations

from datetime import datetime

from opsgov.policy import get_policy
from opsgov.registry import WINDOWS, MetricDefinition, MetricValue, metrics

from . import selectors, services


def _span(window: str, now: datetime) -> tuple[datetime, datetime]:
    return now - WINDOWS[window], now


def prepare_patch_compliance(*, now: datetime) -> None:
    """Once per metric cycle, before the figures: the security area's findings past SLA become obligations and
    its SBOM components join the end-of-life check (maintenance.services)."""
    services.sync_security_findings(now=now)
    services.sync_sbom_components()


def compute_patch_compliance(*, window: str, now: datetime) -> list[MetricValue]:
    start, end = _span(window, now)
    return [
        MetricValue(
            scope=row.scope,
            value=row.percent,
            sample_size=row.counted,
            details={"met_in_time": row.met, "counted": row.counted, "excepted": row.excepted},
        )
        for row in selectors.patch_compliance(start=start, end=end)
    ]


def compute_schedule_adherence(*, window: str, now: datetime) -> list[MetricValue]:
    start, end = _span(window, now)
    return [
        MetricValue(scope=scope, value=None if due == 0 else done * 100 / due, sample_size=due, details={"done": done})
        for scope, (done, due) in selectors.schedule_adherence(start=start, end=end).items()
    ]


def _change_metric(kind: str) -> object:
    def compute(*, window: str, now: datetime) -> list[MetricValue]:
        start, end = _span(window, now)
        values = []
        for scope, figures in selectors.change_figures(start=start, end=end).items():
            if kind == "emergency":
                numerator, denominator = figures.emergency, figures.total
            elif kind == "success":
                numerator, denominator = figures.successful, figures.with_outcome
            else:
                numerator, denominator = figures.failed, figures.with_outcome
            values.append(
                MetricValue(
                    scope=scope,
                    value=None if denominator == 0 else numerator * 100 / denominator,
                    sample_size=denominator,
                    details={"count": numerator},
                )
            )
        return values

    compute.__name__ = f"compute_change_{kind}"
    compute.__module__ = __name__
    return compute


PATCH_COMPLIANCE = MetricDefinition(
    key="patch_compliance",
    title="Patch compliance",
    unit="percent",
    comparison=">",
    target=lambda: get_policy().targets.patch_compliance_percent,
    compute=compute_patch_compliance,
    prepare=prepare_patch_compliance,
    description="Patch obligations met by their deadline ÷ obligations due (or met) in the window; an open one "
    "past its deadline counts as not met; those under a valid exception are counted apart.",
)
SCHEDULE_ADHERENCE = MetricDefinition(
    key="schedule_adherence",
    title="Maintenance schedule adherence",
    unit="percent",
    comparison=">=",
    target=lambda: 100.0,
    compute=compute_schedule_adherence,
    description="Cadence periods (per service and policy activity) with the activity done ÷ periods due.",
)
CHANGE_SUCCESS = MetricDefinition(
    key="change_success_rate",
    title="Change success rate",
    unit="percent",
    comparison=">=",
    target=lambda: 85.0,
    compute=_change_metric("success"),  # type: ignore[arg-type]
    description="Changes successful and not followed by an incident ÷ changes with an outcome.",
)
CHANGE_FAILURE = MetricDefinition(
    key="change_failure_rate",
    title="Change failure rate",
    unit="percent",
    comparison="<=",
    target=lambda: 15.0,
    compute=_change_metric("failure"),  # type: ignore[arg-type]
    description="Changes failed, backed out or followed by an incident on their service ÷ changes with an outcome.",
)
EMERGENCY_SHARE = MetricDefinition(
    key="emergency_change_share",
    title="Emergency change share",
    unit="percent",
    comparison="<=",
    target=lambda: 10.0,
    compute=_change_metric("emergency"),  # type: ignore[arg-type]
    description="Emergency changes ÷ all changes in the window.",
)

for _definition in (PATCH_COMPLIANCE, SCHEDULE_ADHERENCE, CHANGE_SUCCESS, CHANGE_FAILURE, EMERGENCY_SHARE):
    metrics.register(_definition)
