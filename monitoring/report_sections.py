"""The monitoring app's section of the weekly operations report: SLOs at risk.

As the report is written (the SLO engine keeps current state only, in
SLOStatus): enabled SLOs with less error budget left than the policy's
``monitoring.slo_at_risk_budget_percent``, the least budget first. Registered
with opsgov.reports' section registry when opsgov.apps discovers this module.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count
from django.utils import timezone

from opsgov.models import ReportKind
from opsgov.policy import get_policy
from opsgov.reports.services import (
    Cell,
    ReportPeriod,
    Section,
    SectionProvider,
    Table,
    first_rows,
    pluralize,
    report_sections,
)

from .models import SLOStatus
from .slos.selectors import slo_url, slos_at_risk


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}".rstrip("0").rstrip(".") + " %"


def slos_at_risk_section(*, period: ReportPeriod, now: datetime) -> Section:
    """SLOs at risk now (three queries at most)."""
    threshold = get_policy().monitoring.slo_at_risk_budget_percent
    statuses, more = first_rows(slos_at_risk())
    evaluated = SLOStatus.objects.filter(slo__enabled=True).aggregate(n=Count("pk"))["n"]
    rows = [
        [
            Cell(status.slo.name, slo_url(status.slo)),
            Cell(status.slo.service.name),
            Cell(
                _percent(None if status.budget_remaining is None else 100 * status.budget_remaining),
                tone="danger" if (status.budget_remaining or 0) <= 0 else "warning",
            ),
            Cell(_percent(status.sli_percent)),
            Cell(_percent(float(status.slo.objective_percent))),
        ]
        for status in statuses
    ]
    total = len(rows) + more
    as_of = timezone.localtime(now, period.zone).strftime("%a %-d %b %H:%M")
    return Section(
        key="slos-at-risk",
        title="SLOs at risk",
        summary=(
            f"{pluralize(total, 'SLO')} of {evaluated} at risk (less than {threshold:g} % of the error budget left)."
            if evaluated
            else "No SLO has been evaluated yet."
        ),
        tables=[
            Table(
                columns=["SLO", "Service", "Error budget left", "SLI over the window", "Objective"],
                rows=rows,
                more=more,
            )
        ]
        if rows
        else [],
        notes=[f"As of {as_of}."],
    )


SLOS_AT_RISK = SectionProvider("slos-at-risk", (ReportKind.WEEKLY,), "SLOs at risk", slos_at_risk_section, order=40)


# Contributed to the weekly report once opsgov discovers this module (opsgov.apps).
report_sections.register(SLOS_AT_RISK)
