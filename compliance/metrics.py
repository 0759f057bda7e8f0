"""Compliance metrics: requirement coverage, evidence currency, overdue findings, expiring exceptions.

All four are states at `now` (the window is not used: a coverage or a count of overdue findings
is what it is at the instant the metric task computes it); one value per active framework
(``framework:<slug>-<version>``) for coverage and currency, and ``global``.

- requirement coverage (percent): assessable requirements mapped to at least one non-retired
  control ÷ assessable requirements;
- evidence currency (percent): non-retired controls mapped to the framework with current
  evidence (compliance.selectors.ControlEvidence.is_current) ÷ those controls;
- overdue findings (count, as a score): open findings past their due date;
- exceptions expiring (count, as a score): active exceptions ending within
  ``compliance.exception_expiring_within`` (30 days by default).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from opsgov.policy import get_policy
from opsgov.registry import MetricDefinition, MetricValue, metrics

from .selectors import (
    active_frameworks,
    control_evidence,
    coverage,
    expiring_exceptions,
    framework_controls,
    overdue_findings,
)


def _scope(framework: object) -> str:
    return f"framework:{framework.slug}-{framework.version}"  # type: ignore[attr-defined]


def compute_coverage(*, window: str = "30d", now: datetime) -> Iterable[MetricValue]:
    total_assessable = total_covered = 0
    for framework in active_frameworks():
        figures = coverage(framework)
        total_assessable += figures.assessable
        total_covered += figures.covered
        yield MetricValue(_scope(framework), figures.percent, figures.assessable, {"covered": figures.covered})
    yield MetricValue(
        "global",
        None if not total_assessable else 100 * total_covered / total_assessable,
        total_assessable,
        {"covered": total_covered},
    )


def compute_currency(*, window: str = "30d", now: datetime) -> Iterable[MetricValue]:
    seen: dict[int, bool] = {}
    for framework in active_frameworks():
        items = control_evidence(framework_controls(framework), now=now, with_files=False)
        current = sum(1 for item in items if item.is_current)
        for item in items:
            seen[item.control.pk] = item.is_current
        yield MetricValue(
            _scope(framework), 100 * current / len(items) if items else None, len(items), {"current": current}
        )
    current = sum(seen.values())
    yield MetricValue("global", 100 * current / len(seen) if seen else None, len(seen), {"current": current})


def compute_overdue(*, window: str = "30d", now: datetime) -> Iterable[MetricValue]:
    count = overdue_findings(now).count()
    yield MetricValue("global", float(count), count)


def compute_expiring(*, window: str = "30d", now: datetime) -> Iterable[MetricValue]:
    count = expiring_exceptions(now).count()
    yield MetricValue("global", float(count), count)


COVERAGE = metrics.register(
    MetricDefinition(
        key="compliance_requirement_coverage",
        title="Requirement coverage",
        unit="percent",
        comparison=">=",
        target=lambda: get_policy().compliance.min_coverage_percent,
        compute=compute_coverage,
        description="Assessable requirements of active frameworks mapped to a non-retired control.",
    )
)
CURRENCY = metrics.register(
    MetricDefinition(
        key="compliance_evidence_currency",
        title="Evidence currency",
        unit="percent",
        comparison=">=",
        target=lambda: 100.0,
        compute=compute_currency,
        description="Controls of active frameworks whose evidence is current (live evidence fresh, or an approved "
        "unexpired file).",
    )
)
OVERDUE = metrics.register(
    MetricDefinition(
        key="compliance_overdue_findings",
        title="Overdue findings",
        unit="score",
        comparison="<=",
        target=lambda: 0.0,
        compute=compute_overdue,
        description="Open audit findings past their policy due date (a count).",
    )
)
EXPIRING = metrics.register(
    MetricDefinition(
        key="compliance_exceptions_expiring",
        title="Exceptions expiring soon",
        unit="score",
        comparison="<=",
        target=lambda: 0.0,
        compute=compute_expiring,
        description="Active compliance exceptions ending within the policy's window (30 days by default; a count).",
    )
)
