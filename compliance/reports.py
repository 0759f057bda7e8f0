"""The compliance status report of a framework, as HTML (in the admin), CSV and PDF (compliance.pdf)."""

from __future__ import annotations

import csv
import io

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from .models import Framework
from .selectors import StatusReport, status_report

#: Controls listed per page of the HTML report (a framework may have a thousand).
CONTROLS_PER_PAGE = 100
CSV_HEADER = ["section", "item", "state", "detail", "link"]


def status_rows(report: StatusReport) -> list[list[str]]:
    rows = [
        ["summary", "requirements covered", f"{report.coverage.covered}/{report.coverage.assessable}", "", ""],
        ["summary", "controls with current evidence", f"{report.current_controls}/{len(report.controls)}", "", ""],
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
    for item in report.controls:
        detail = ", ".join(f"{binding.provider}:{reading.freshness}" for binding, reading in item.readings)
        rows.append(
            [
                "control",
                str(item.control),
                "current" if item.is_current else "not current",
                f"{detail} files:{item.file_count}",
                item.control.get_absolute_url(),
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


def status_csv(framework: Framework) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    writer.writerows(status_rows(status_report(framework, now=timezone.now())))
    response = HttpResponse(buffer.getvalue(), content_type="text/csv")
    response["Content-Disposition"] = (
        f'attachment; filename="compliance-status-{framework.slug}-{framework.version}.csv"'
    )
    return response


def status_html(request: HttpRequest, framework: Framework) -> TemplateResponse:
    report = status_report(framework, now=timezone.now())
    # The summary counts every control; the page lists them CONTROLS_PER_PAGE at a time (CSV and PDF: all).
    page = Paginator(report.controls, CONTROLS_PER_PAGE).get_page(request.GET.get("page"))
    return TemplateResponse(
        request, "compliance/status_report.html", {"report": report, "page": page, "title": "Compliance status"}
    )
