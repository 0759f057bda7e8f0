"""The compliance section of the monthly governance report (sent to compliance officers by opsgov.reports).

Per active framework: requirement coverage, controls with current evidence, open and overdue
findings, active and expiring exceptions, with a link to the framework's status report. That the
monthly report went out is one of the compliance gate's criteria.
"""

from __future__ import annotations

from datetime import datetime

from django.urls import reverse

from opsgov.models import ReportKind
from opsgov.reports.services import Cell, ReportPeriod, Section, SectionProvider, Table, pluralize, report_sections

from .reports import framework_status
from .selectors import active_frameworks


def compliance_status_section(*, period: ReportPeriod, now: datetime) -> Section:
    rows = []
    for framework in active_frameworks():
        report = framework_status(framework, now=now)
        rows.append(
            [
                Cell(str(framework), reverse("admin:compliance_framework_status", args=[framework.pk, "html"])),
                Cell(f"{report.coverage.covered}/{report.coverage.assessable}"),
                Cell(f"{report.current_controls}/{report.control_count}"),
                Cell(
                    f"{len(report.open_findings)} ({len(report.overdue_findings)} overdue)",
                    tone="danger" if report.overdue_findings else "",
                ),
                Cell(
                    f"{len(report.active_exceptions)} ({len(report.expiring_exceptions)} expiring)",
                    tone="warning" if report.expiring_exceptions else "",
                ),
            ]
        )
    return Section(
        key="compliance-status",
        title="Compliance status",
        summary=f"{pluralize(len(rows), 'active framework')}." if rows else "No active compliance framework.",
        tables=[
            Table(
                columns=[
                    "Framework",
                    "Requirements covered",
                    "Controls with current evidence",
                    "Open findings",
                    "Exceptions",
                ],
                rows=rows,
            )
        ]
        if rows
        else [],
    )


COMPLIANCE_STATUS = SectionProvider(
    "compliance-status", (ReportKind.MONTHLY,), "Compliance status", compliance_status_section, order=50
)
report_sections.register(COMPLIANCE_STATUS)
