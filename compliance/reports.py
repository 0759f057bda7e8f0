"""The compliance status report of a framework, as HTML (in the admin), CSV and PDF (compliance.pdf)."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from .models import Framework
from .selectors import StatusReport, control_rows, framework_controls, status_report
from .services import evidence_snapshots_refresh

#: Controls listed per page of the HTML report (a framework may have a thousand).
CONTROLS_PER_PAGE = 100
CSV_HEADER = ["section", "item", "state", "detail", "link"]


def status_rows(report: StatusReport) -> list[list[str]]:
    rows = [
        ["summary", "requirements covered", f"{report.coverage.covered}/{report.coverage.assessable}", "", ""],
        ["summary", "controls with current evidence", f"{report.current_controls}/{report.control_count}", "", ""],
        ["summary", "failed tests", str(len(report.failed_tests)), "", ""],
        ["summary", "open findings", str(len(report.open_findings)), f"{len(report.overdue_findings)} overdue", ""],
        [
            "summary",
            "active exceptions",
            str(len(report.active_exceptions)),
            f"{len(report.expiring_exceptions)} expiring soon",
            "",
        ],
    ]
    for row in report.training:
        rate = f"{row.rate * 100:.0f} %" if row.rate is not None else "nobody assigned"
        rows.append(
            [
                "training",
                f"{row.course} / {row.role}",
                rate,
                f"{row.completed} of {row.assigned} completed, {row.overdue} overdue",
                row.url,
            ]
        )
    for item in control_rows(report.controls):
        detail = ", ".join(f"{provider}:{freshness}" for provider, freshness in item.readings)
        rows.append(
            [
                "control",
                str(item.control),
                "current" if item.is_current else "not current",
                f"{detail} files:{item.file_count}",
                item.url,
            ]
        )
    for result in report.failed_tests:
        rows.append(["failed test", str(result.control), result.method, result.audit.title, ""])
    for finding in report.open_findings:
        state = "overdue" if finding in report.overdue_findings else finding.status
        rows.append(["finding", finding.title, state, f"{finding.severity} due {finding.due_at:%Y-%m-%d}", ""])
    for exception in report.active_exceptions:
        state = "expiring" if exception in report.expiring_exceptions else "active"
        rows.append(["exception", exception.title, state, f"expires {exception.expires_at:%Y-%m-%d}", ""])
    return rows


def framework_status(framework: Framework, *, now: datetime | None = None) -> StatusReport:
    """The status report of `framework` now, its controls' evidence as of their snapshots. Controls that
    have none yet (a bulk load, a fresh migration) get theirs first: all the framework's at one instant."""
    now = now or timezone.now()
    report = status_report(framework, now=now)
    if report.missing_snapshots:
        evidence_snapshots_refresh(controls=framework_controls(framework), now=now)
        report = status_report(framework, now=now)
    return report


def status_csv(framework: Framework) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    writer.writerows(status_rows(framework_status(framework)))
    response = HttpResponse(buffer.getvalue(), content_type="text/csv")
    response["Content-Disposition"] = (
        f'attachment; filename="compliance-status-{framework.slug}-{framework.version}.csv"'
    )
    return response


def status_html(request: HttpRequest, framework: Framework) -> TemplateResponse:
    report = framework_status(framework)
    # The summary counts every control; the page lists them CONTROLS_PER_PAGE at a time (CSV and PDF: all).
    page = Paginator(report.controls, CONTROLS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"report": report, "page": page, "rows": control_rows(page), "title": "Compliance status"}
    return TemplateResponse(request, "compliance/status_report.html", context)
