"""HTML pages of compliance outside the admin (mounted under /compliance/): the audit calendar."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone

from opsgov.listing import paginate

from .selectors import calendar

VIEW = "compliance.view_control"


@permission_required(VIEW, raise_exception=True)
def calendar_view(request: HttpRequest) -> HttpResponse:
    """Every implemented control's next due tests, overdue first, in colour and in words."""
    entries = calendar(now=timezone.now())
    overdue = sum(1 for entry in entries if entry.state == "overdue")
    page = paginate(request, entries)  # type: ignore[arg-type]  # a list pages like a queryset
    context = {
        "page": page,
        "page_range": list(page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1)),
        "filter_query": QueryDict(mutable=True),
        "is_filtered": False,
        "overdue": overdue,
        "total": len(entries),
    }
    return render(request, "compliance/calendar.html", context)
