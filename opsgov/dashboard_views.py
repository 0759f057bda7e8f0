"""The dashboard at `/` and its metrics CSV export.

Thin views over opsgov.dashboard: the page, the htmx fragment it polls, and the
CSV of the metric rows it shows. A fixed number of queries whatever the data size.
"""

from __future__ import annotations

import csv

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from . import dashboard, selectors
from .gates import services as gate_services

#: How often the dashboard refreshes itself (htmx polling of its fragment).
REFRESH_SECONDS = 60


@require_GET
def dashboard_view(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    states = selectors.gate_states()
    missing = [state.gate.key for state in states if state.evaluation is None]
    if missing:
        # First visit after install: evaluate now rather than show nothing.
        gate_services.evaluate_gates(keys=missing)
        states = selectors.gate_states()
    cards = dashboard.gate_cards(now=now, states=states)
    context = {
        "now": now,
        "gates": cards,
        "summary": dashboard.gate_summary(cards),
        "metric_rows": dashboard.metric_rows(now=now),
        "metric_window": dashboard.WINDOW,
        "trend_days": dashboard.TREND_DAYS,
        "panels": dashboard.panel_contexts(now=now),
        "attention": dashboard.attention_items(now=now),
        "refresh_seconds": REFRESH_SECONDS,
    }
    # The page polls itself with htmx: answer those requests with the fragment only.
    template = "opsgov/_dashboard.html" if getattr(request, "htmx", False) else "opsgov/dashboard.html"
    response = render(request, template, context)
    # Same URL, two representations: caches (and the back button) must tell them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


CSV_COLUMNS = (
    "metric",
    "title",
    "scope",
    "window",
    "value",
    "unit",
    "display",
    "comparison",
    "target",
    "status",
    "sample_size",
    "computed_at",
)


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "@", "\t", "\r") else text


@require_GET
def metrics_csv_view(request: HttpRequest) -> HttpResponse:
    """The dashboard's metric rows as CSV: the snapshots shown (global, 30 days), with targets and status."""
    now = timezone.now()
    rows = dashboard.metric_rows(now=now, with_trend=False)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="opsgov-metrics-{now:%Y%m%d-%H%M}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                _cell(row.key),
                _cell(row.title),
                dashboard.SCOPE,
                dashboard.WINDOW,
                "" if row.value is None else repr(float(row.value)),
                row.unit,
                _cell(row.display),
                row.comparison,
                repr(float(row.target)),
                row.verdict,
                row.sample_size if row.snapshot else "",
                row.computed_at.isoformat() if row.computed_at else "",
            ]
        )
    return response
