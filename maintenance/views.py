"""HTML pages of maintenance (mounted under /maintenance/, namespace "maintenance"), and the iCalendar feed.

The calendar is a server-rendered month in the policy's business time zone.
The feed (``calendar.ics``) is for calendar applications, which cannot log in:
it carries a token signed with the site's secret for one user (shown on the
calendar page), checked on every request; a deactivated user's feed stops.
"""

from __future__ import annotations

import calendar as month_calendar
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from icalendar import Calendar, Event

from opsgov.listing import page_context, paginate
from opsgov.models import Service
from opsgov.policy import get_policy

from . import selectors, services
from .models import ChangeRecord, Host, MaintenanceLog, PatchObligation

FEED_SALT = "maintenance.calendar-feed"


def feed_token(user: Any) -> str:
    return signing.dumps({"u": user.pk}, salt=FEED_SALT)


def _month(request: HttpRequest, today: date) -> date:
    text = request.GET.get("month", "")
    try:
        year, month = (int(part) for part in text.split("-"))
        return date(year, month, 1)
    except ValueError:
        return today.replace(day=1)


_BADGES = {
    "window": ' <span class="badge badge-warning">not approved</span>',
    "change": ' <span class="badge badge-danger">conflict</span>',
    "due": ' <span class="badge badge-danger">overdue</span>',
}


def _entry_html(entry: selectors.CalendarEntry) -> str:
    """A calendar entry as a list item: built here rather than by the template's tags (a month holds hundreds),
    with what the tags did (the title cut at 40 characters like ``truncatechars``, every value escaped)."""
    title = entry.title if len(entry.title) <= 40 else Truncator(entry.title).chars(40)
    label = f'<a href="{escape(entry.url)}">{escape(title)}</a>' if entry.url else escape(title)
    flagged = "" if entry.approved else " cal-flagged"
    badge = "" if entry.approved else _BADGES.get(entry.kind, "")
    return f'<li class="cal-{entry.kind}{flagged}" data-kind="{entry.kind}">{label}{badge}</li>'


def _calendar_weeks(
    weeks: list[list[date]], by_day: dict[date, list[selectors.CalendarEntry]]
) -> list[list[tuple[date, SafeString]]]:
    """The grid: each day with its entries' list items (an entry over several days is built once)."""
    built: dict[int, str] = {}
    grid = []
    for week in weeks:
        row = []
        for day in week:
            items = []
            for entry in by_day.get(day, ()):
                text = built.get(id(entry))
                if text is None:
                    text = built[id(entry)] = _entry_html(entry)
                items.append(text)
            row.append((day, mark_safe("\n".join(items))))  # noqa: S308  (every value escaped by _entry_html)
        grid.append(row)
    return grid


def calendar_view(request: HttpRequest) -> HttpResponse:
    tz = get_policy().business_calendar.zone
    today = timezone.now().astimezone(tz).date()
    first = _month(request, today)
    service = None
    if request.GET.get("service"):
        service = Service.objects.filter(slug=request.GET["service"]).first()
    weeks = month_calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    start = datetime.combine(weeks[0][0], datetime.min.time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(weeks[-1][-1] + timedelta(days=1), datetime.min.time(), tzinfo=tz).astimezone(UTC)
    by_day = selectors.calendar_days(start=start, end=end, tz=tz, service=service)
    previous = (first - timedelta(days=1)).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    feed = request.build_absolute_uri(reverse("maintenance:calendar-feed")) + f"?token={feed_token(request.user)}"
    return render(
        request,
        "maintenance/calendar.html",
        {
            "month": first,
            "weeks": _calendar_weeks(weeks, by_day),
            "previous": f"{previous:%Y-%m}",
            "following": f"{following:%Y-%m}",
            "service": service,
            "services": Service.objects.order_by("name"),
            "time_zone": tz.key,
            "feed_url": feed,
            "today": today,
        },
    )


@login_not_required
def calendar_feed(request: HttpRequest) -> HttpResponse:
    try:
        data = signing.loads(request.GET.get("token", ""), salt=FEED_SALT)
    except signing.BadSignature:
        return HttpResponse("Unknown feed token.", status=401, content_type="text/plain")
    user = get_user_model().objects.filter(pk=data.get("u"), is_active=True).first()
    if user is None:
        return HttpResponse("Unknown feed token.", status=401, content_type="text/plain")
    now = timezone.now()
    feed = Calendar()
    feed.add("prodid", "-//opsgov//maintenance//EN")
    feed.add("version", "2.0")
    feed.add("x-wr-calname", "opsgov maintenance")
    host = request.get_host()
    for item in selectors.calendar_items(start=now - timedelta(days=90), end=now + timedelta(days=366)):
        event = Event()
        event.add("uid", f"{item['uid']}@{host}")
        event.add("summary", item["title"])
        event.add("dtstart", item["start"])
        event.add("dtend", item["end"])
        event.add("dtstamp", now)
        event.add("categories", [item["kind"]])
        if item["kind"] == "window" and not item["approved"]:
            event.add("status", "TENTATIVE")
        feed.add_component(event)
    response = HttpResponse(feed.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="opsgov-maintenance.ics"'
    return response


def change_list(request: HttpRequest) -> HttpResponse:
    changes = ChangeRecord.objects.prefetch_related("services").order_by("-created_at", "-id")
    if request.GET.get("flagged"):
        changes = changes.filter(outside_window=True) | changes.filter(in_freeze=True)
    return render(request, "maintenance/change_list.html", page_context(request, paginate(request, changes)))


def change_detail(request: HttpRequest, uuid: str) -> HttpResponse:
    change = get_object_or_404(
        ChangeRecord.objects.prefetch_related("services", "approvals__approved_by", "incident_links", "logs"),
        uuid=uuid,
    )
    return render(
        request,
        "maintenance/change_detail.html",
        {
            "change": change,
            "required": services.required_approvals(change),
            "missing": services.missing_approvals(change),
        },
    )


def host_list(request: HttpRequest) -> HttpResponse:
    hosts = Host.objects.select_related("service").order_by("name")
    figures = {
        row.scope: row
        for row in selectors.patch_compliance(start=timezone.now() - timedelta(days=30), end=timezone.now())
    }
    page = paginate(request, hosts)
    rows = [(host, figures.get(f"host:{host.name}")) for host in page.object_list]
    context = page_context(request, page) | {"rows": rows, "overall": figures.get("global")}
    return render(request, "maintenance/host_list.html", context)


def host_detail(request: HttpRequest, uuid: str) -> HttpResponse:
    host = get_object_or_404(Host.objects.select_related("service"), uuid=uuid)
    obligations = PatchObligation.objects.filter(host=host).order_by("met_at", "due_at")[:500]
    report = host.reports.first()
    return render(
        request,
        "maintenance/host_detail.html",
        {"host": host, "obligations": obligations, "report": report, "now": timezone.now()},
    )


def log_list(request: HttpRequest) -> HttpResponse:
    logs = MaintenanceLog.objects.select_related("service", "performed_by").order_by("-performed_at", "-id")
    rows = selectors.cadence_status(now=timezone.now())
    context = page_context(request, paginate(request, logs)) | {"cadence": rows}
    return render(request, "maintenance/log_list.html", context)
