"""The maintenance area's sections of the reports.

- Weekly, "Changes of the week": the changes that started in the week (by actual start; cancelled ones left
  out), how many failed or were followed by an incident, how many were emergencies, and those that ran
  outside their windows or in a freeze; one query for the figures and one for the flagged rows.
- Monthly, "Patching and maintenance": patch compliance over the month (the definition of
  maintenance.selectors.patch_compliance), the critical security patches still late at the end of the month
  and the maintenance activities overdue as the report is written.

Registered with opsgov.reports' section registry when opsgov.apps discovers this module.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

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

from . import selectors
from .models import ChangeRecord, ChangeState, PatchObligation


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def changes_section(*, period: ReportPeriod, now: datetime) -> Section:
    figures = selectors.change_figures(start=period.start, end=period.end).get("global")
    flagged_rows, more = first_rows(
        ChangeRecord.objects.filter(actual_start__gte=period.start, actual_start__lt=period.end)
        .filter(Q(outside_window=True) | Q(in_freeze=True))
        .exclude(state=ChangeState.CANCELLED)
        .prefetch_related("services", "approvals")
        .order_by("actual_start", "id")
    )
    if figures is None or figures.total == 0:
        return Section(key="changes", title="Changes of the week", summary="No change started this week.")
    rows = [
        [
            Cell(change.number, change.get_absolute_url()),
            Cell(change.title[:120]),
            Cell(", ".join(s.slug for s in change.services.all())),
            Cell("in a freeze" if change.in_freeze else "outside its windows", tone="warning"),
            Cell(
                "approved" if any(a.reason == "conflict" for a in change.approvals.all()) else "not approved",
                tone="success" if any(a.reason == "conflict" for a in change.approvals.all()) else "danger",
            ),
        ]
        for change in flagged_rows
    ]
    summary = (
        f"{pluralize(figures.total, 'change')}: {figures.failed} failed, backed out or followed by an incident "
        f"(of {figures.with_outcome} with an outcome); {pluralize(figures.emergency, 'emergency change')}; "
        f"{pluralize(len(rows) + more, 'change')} outside {'its' if len(rows) + more == 1 else 'their'} "
        "windows or in a freeze."
    )
    return Section(
        key="changes",
        title="Changes of the week",
        summary=summary,
        tables=[Table(columns=["Change", "Title", "Services", "Conflict", "Extra approval"], rows=rows, more=more)]
        if rows
        else [],
    )


def patching_section(*, period: ReportPeriod, now: datetime) -> Section:
    target = get_policy().targets.patch_compliance_percent
    compliance = {row.scope: row for row in selectors.patch_compliance(start=period.start, end=min(period.end, now))}
    overall = compliance.get("global")
    late, more = first_rows(
        PatchObligation.objects.filter(patch_class="security_critical", met_at__isnull=True, due_at__lt=period.end)
        .exclude(exception_until__gt=period.end)
        .order_by("due_at", "id")
    )
    overdue = [row for row in selectors.cadence_status(now=now) if row.overdue]
    value = overall.percent if overall is not None else None
    summary = (
        f"Patch compliance {_percent(value)} over {pluralize(overall.counted if overall else 0, 'obligation')} "
        f"(target {target:g} %); {pluralize(len(late) + more, 'critical security patch', 'critical security patches')}"
        f" late; {pluralize(len(overdue), 'maintenance activity', 'maintenance activities')} overdue."
    )
    tables = []
    services_rows = [
        [
            Cell(scope.removeprefix("service:")),
            Cell(_percent(row.percent), tone="success" if (row.percent or 0) >= target else "danger"),
            Cell(str(row.counted)),
            Cell(str(row.excepted)),
        ]
        for scope, row in compliance.items()
        if scope.startswith("service:")
    ]
    if services_rows:
        tables.append(
            Table(columns=["Service", "Patch compliance", "Obligations", "Under an exception"], rows=services_rows)
        )
    if late:
        tables.append(
            Table(
                columns=["Package", "Version", "Asset", "Due"],
                rows=[
                    [
                        Cell(o.package),
                        Cell(o.version),
                        Cell(o.asset),
                        Cell(f"{o.due_at:%Y-%m-%d %H:%M} UTC", tone="danger"),
                    ]
                    for o in late
                ],
                caption="Critical security patches late",
                more=more,
            )
        )
    if overdue:
        tables.append(
            Table(
                columns=["Service", "Activity", "Last done", "Due by"],
                rows=[
                    [
                        Cell(row.service.slug),
                        Cell(row.title),
                        Cell(f"{row.last_done:%Y-%m-%d}" if row.last_done else "never"),
                        Cell(f"{row.due_by:%Y-%m-%d}", tone="danger"),
                    ]
                    for row in overdue[:20]
                ],
                caption="Maintenance overdue",
                more=max(len(overdue) - 20, 0),
            )
        )
    return Section(key="patching", title="Patching and maintenance", summary=summary, tables=tables)


CHANGES = SectionProvider("changes", (ReportKind.WEEKLY,), "Changes of the week", changes_section, order=45)
PATCHING = SectionProvider("patching", (ReportKind.MONTHLY,), "Patching and maintenance", patching_section, order=45)

# Contributed to the reports once opsgov discovers this module (opsgov.apps).
report_sections.register(CHANGES)
report_sections.register(PATCHING)
