"""HTML pages of compliance outside the admin (mounted under /compliance/): the audit calendar."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from opsgov.listing import page_context, paginate

from .selectors import calendar

VIEW = "compliance.view_control"


@permission_required(VIEW, raise_exception=True)
def calendar_view(request: HttpRequest) -> HttpResponse:
    """Every implemented control's next due tests, overdue first, in colour and in words."""
    entries = calendar(now=timezone.now())
    overdue = sum(1 for entry in entries if entry.state == "overdue")
    context = page_context(request, paginate(request, entries)) | {
        "is_filtered": False,
        "overdue": overdue,
        "total": len(entries),
    }
    return render(request, "compliance/calendar.html", context)
