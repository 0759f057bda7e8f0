"""The security app's section of the monthly governance report: the security patch report.

What was fixed in the month (findings whose fix opsgov recorded in the period: a rescan no longer
listed them, or a VEX / Dependabot alert said resolved), by severity: how many, how many within their
SLA (fixed by ``due_at``) and how many late; the late fixes listed; and what is still open past its SLA
without a valid risk acceptance at the end of the period. Registered with opsgov.reports' section
registry when opsgov.apps discovers this module. Three queries (four with more late fixes than shown).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, F, Q

from opsgov.models import ReportKind
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

from .dashboard_panels import findings_url
from .models import SEVERITY_ORDER, Finding, FindingStatus
from .selectors import overdue


def _percent(part: int, whole: int) -> str:
    return "—" if whole == 0 else f"{part * 100 / whole:.1f}".rstrip("0").rstrip(".") + " %"


def security_patches_section(*, period: ReportPeriod, now: datetime) -> Section:
    end = min(period.end, now)
    fixed = Finding.objects.filter(status=FindingStatus.FIXED, fixed_at__gte=period.start, fixed_at__lt=end)
    within = Q(due_at__isnull=True) | Q(fixed_at__lte=F("due_at"))
    counts = {
        row["severity"]: row
        for row in fixed.values("severity").annotate(fixed=Count("id"), within=Count("id", filter=within)).order_by()
    }
    rows = []
    total_fixed = total_within = 0
    for severity in SEVERITY_ORDER:
        row = counts.get(severity, {"fixed": 0, "within": 0})
        total_fixed += row["fixed"]
        total_within += row["within"]
        late = row["fixed"] - row["within"]
        rows.append(
            [
                Cell(severity.label),
                Cell(str(row["fixed"])),
                Cell(str(row["within"])),
                Cell(str(late), tone="danger" if late else ""),
                Cell(_percent(row["within"], row["fixed"])),
            ]
        )
    late_fixes, more = first_rows(fixed.exclude(within).select_related("asset").order_by("fixed_at", "id"))
    late_rows = [
        [
            Cell(
                finding.vulnerability_id, findings_url(asset=finding.asset.name, vulnerability=finding.vulnerability_id)
            ),
            Cell(f"{finding.package_name} {finding.package_version}".strip()),
            Cell(finding.asset.name),
            Cell(finding.get_severity_display()),
            Cell(f"{finding.due_at:%Y-%m-%d %H:%M}" if finding.due_at else "—"),
            Cell(f"{finding.fixed_at:%Y-%m-%d %H:%M}" if finding.fixed_at else "—", tone="danger"),
        ]
        for finding in late_fixes
    ]
    still_open = overdue(Finding.objects.all(), end).count()
    tables = [
        Table(
            columns=["Severity", "Fixed", "Within SLA", "Late", "Within SLA (share)"],
            rows=rows,
            caption="Findings fixed in the period",
        )
    ]
    if late_rows:
        tables.append(
            Table(
                columns=["Vulnerability", "Package", "Asset", "Severity", "Due", "Fixed"],
                rows=late_rows,
                caption="Fixed after their SLA",
                more=more,
            )
        )
    summary = (
        f"{pluralize(total_fixed, 'security finding')} fixed, {total_within} within SLA "
        f"({_percent(total_within, total_fixed)}); {pluralize(still_open, 'finding')} past SLA without a valid "
        "risk acceptance at the end of the period."
        if total_fixed
        else f"No security finding was fixed; {pluralize(still_open, 'finding')} past SLA without a valid risk "
        "acceptance at the end of the period."
    )
    return Section(
        key="security-patches",
        title="Security patches",
        summary=summary,
        tables=tables,
        notes=["Times are opsgov's: a fix is recorded when a rescan of the same asset and scope no longer lists it."],
    )


SECURITY_PATCHES = SectionProvider(
    "security-patches", (ReportKind.MONTHLY,), "Security patches", security_patches_section, order=60
)

# Contributed to the monthly report once opsgov discovers this module (opsgov.apps).
report_sections.register(SECURITY_PATCHES)
