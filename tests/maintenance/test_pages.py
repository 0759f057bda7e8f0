"""The month calendar, the iCalendar feed, change and host pages."""

from __future__ import annotations

import calendar as month_calendar
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.template import Context as TemplateContext
from django.template import Template
from django.test import Client
from icalendar import Calendar

from maintenance import selectors, services
from maintenance.models import ChangeRecord
from maintenance.views import feed_token
from opsgov.models import Service
from opsgov.policy import get_policy
from opsgov.roles import DEVOPS_LEAD
from tests.factories import ServiceFactory

from .support import approved_window, fixture, product_owner, utc

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client: Client, personas: dict[str, User]) -> Client:
    client.force_login(personas[DEVOPS_LEAD])
    return client


def test_the_month_calendar_shows_windows_freezes_and_flagged_changes(reader: Client) -> None:
    service = ServiceFactory.create(slug="checkout")
    approved_window(service)
    services.create_freeze(name="Launch freeze", starts_at=utc(2026, 3, 12), ends_at=utc(2026, 3, 13))
    change = services.create_change(
        title="Tuesday change", services=[service], planned_start=utc(2026, 3, 3, 10), planned_end=utc(2026, 3, 3, 11)
    )
    with time_machine.travel(utc(2026, 3, 10), tick=False):
        page = reader.get("/maintenance/?month=2026-03")
    assert page.status_code == 200
    html = page.content.decode()
    # The grid's Sundays: 1, 8, 15, 22, 29 March and 5 April (its last week ends in April).
    assert html.count('data-kind="window"') == 6
    assert "Launch freeze" in html
    assert change.get_absolute_url() in html
    assert "conflict" in html
    assert reader.get("/maintenance/?month=bogus").status_code == 200


# The page's list items as the template drew them before the days were built in maintenance.views: the reference
# the page is held against (from the feed's selector, grouped per local day as the view did).
REFERENCE_ITEM = Template(
    '<li class="cal-{{ item.kind }}{% if not item.approved %} cal-flagged{% endif %}" data-kind="{{ item.kind }}">'
    '{% if item.kind == "change" %}<a href="{{ item.object.get_absolute_url }}">{{ item.title|truncatechars:40 }}</a>'
    "{% else %}{{ item.title|truncatechars:40 }}{% endif %}"
    '{% if item.kind == "window" and not item.approved %} <span class="badge badge-warning">not approved</span>'
    "{% endif %}"
    '{% if item.kind == "change" and not item.approved %} <span class="badge badge-danger">conflict</span>{% endif %}'
    '{% if item.kind == "due" and not item.approved %} <span class="badge badge-danger">overdue</span>{% endif %}</li>'
)


def reference_days(month: date, service: Service | None = None) -> list[list[str]]:
    tz = get_policy().business_calendar.zone
    weeks = month_calendar.Calendar(firstweekday=0).monthdatescalendar(month.year, month.month)
    start = datetime.combine(weeks[0][0], datetime.min.time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(weeks[-1][-1] + timedelta(days=1), datetime.min.time(), tzinfo=tz).astimezone(UTC)
    by_day: dict[date, list[str]] = {}
    for item in selectors.calendar_items(start=start, end=end, service=service):
        day = item["start"].astimezone(tz).date()
        last = max(day, (item["end"] - timedelta(seconds=1)).astimezone(tz).date())
        while day <= last:
            by_day.setdefault(day, []).append(REFERENCE_ITEM.render(TemplateContext({"item": item})))
            day += timedelta(days=1)
    return [by_day.get(day, []) for week in weeks for day in week]


def page_days(html: str) -> list[list[str]]:
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    return [re.findall(r"<li .*?</li>", cell) for cell in re.findall(r"<td.*?</td>", body, flags=re.S)]


@pytest.fixture
def busy_month() -> Service:
    """March 2026: approved and unapproved windows (one of 30 h, over two days), a cron window in another zone,
    a one-off freeze and a recurring one, changes (planned, actual only, over three days, with a long title, with
    markup, in a freeze, cancelled), and due maintenance of an old service (overdue) and a new one."""
    po = product_owner()
    checkout = ServiceFactory.create(slug="checkout")
    ledger = ServiceFactory.create(slug="ledger")
    Service.objects.filter(pk=ledger.pk).update(created_at=utc(2025, 12, 20))
    approved_window(checkout)
    services.create_window(
        name="ledger long", services=[ledger], first_start=utc(2026, 1, 7, 20), duration=timedelta(hours=30),
        timezone_name="Europe/Paris", rrule="FREQ=WEEKLY",
    )  # fmt: skip
    night = services.create_window(
        name="both nightly", services=[checkout, ledger], first_start=utc(2026, 1, 3, 6), duration=timedelta(hours=2),
        timezone_name="America/New_York", kind="cron", cron="30 1 * * 6",
    )  # fmt: skip
    services.approve_window(window=night, user=po, now=utc(2026, 1, 1))
    services.create_freeze(name="Launch freeze", starts_at=utc(2026, 3, 12), ends_at=utc(2026, 3, 13, 12))
    services.create_freeze(
        name="Weekend", services=[ledger], timezone_name="Europe/Paris", freeze_start="0 18 * * 5",
        freeze_end="0 6 * * 1",
    )  # fmt: skip
    services.create_change(
        title="Tuesday change", services=[checkout], planned_start=utc(2026, 3, 3, 10), planned_end=utc(2026, 3, 3, 11)
    )
    services.create_change(
        title="<b>Big</b> change, with a title much longer than forty characters", services=[ledger],
        planned_start=utc(2026, 3, 12, 23, 30), planned_end=utc(2026, 3, 15, 1),
    )  # fmt: skip
    done = services.create_change(title="Done & dusted", services=[ledger])
    ChangeRecord.objects.filter(pk=done.pk).update(actual_start=utc(2026, 3, 20, 22, 59), actual_end=None)
    cancelled = services.create_change(
        title="Called off", services=[checkout], planned_start=utc(2026, 3, 5, 9), planned_end=utc(2026, 3, 5, 10)
    )
    ChangeRecord.objects.filter(pk=cancelled.pk).update(state="cancelled")
    return ledger


def test_the_calendar_shows_what_it_showed_before_for_a_busy_month(reader: Client, busy_month: Service) -> None:
    with time_machine.travel(utc(2026, 3, 10), tick=False):
        for month in (date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)):
            expected = reference_days(month)
            html = reader.get(f"/maintenance/?month={month:%Y-%m}").content.decode()
            assert page_days(html) == expected
            filtered = reader.get(f"/maintenance/?month={month:%Y-%m}&service=ledger").content.decode()
            assert page_days(filtered) == reference_days(month, Service.objects.get(pk=busy_month.pk))
        march = page_days(reader.get("/maintenance/?month=2026-03").content.decode())
    kinds = {re.search(r'data-kind="(\w+)"', item)[1] for day in march for item in day}  # type: ignore[index]
    assert kinds == {"window", "freeze", "change", "due"}
    flat = "".join(item for day in march for item in day)
    assert "&lt;b&gt;" in flat and "<b>" not in flat
    assert "not approved" in flat and "conflict" in flat and "overdue" in flat
    assert "Called off" not in flat


def test_the_calendar_asks_a_fixed_number_of_queries(
    reader: Client, busy_month: Service, django_assert_num_queries: Any
) -> None:
    reader.get("/maintenance/?month=2026-03")  # the session and the user, once
    with time_machine.travel(utc(2026, 3, 10), tick=False):
        for month in ("2026-03", "2025-06", "2026-03"):  # a busy month, an empty one, the busy one from the cache
            with django_assert_num_queries(11):  # session, user, groups; 7 for the days; the service list
                assert reader.get(f"/maintenance/?month={month}").status_code == 200


def test_an_edited_window_is_expanded_again_not_read_from_the_cache(reader: Client) -> None:
    service = ServiceFactory.create(slug="checkout")
    window = approved_window(service)
    with time_machine.travel(utc(2026, 3, 10), tick=False):
        before = reader.get("/maintenance/?month=2026-03").content.decode()
        assert before.count('data-kind="window"') == 6
        services.edit_window(window=window, changes={"rrule": "FREQ=WEEKLY;BYDAY=SU,WE"})
        after = reader.get("/maintenance/?month=2026-03").content.decode()
    assert after.count('data-kind="window"') == 12
    assert page_days(after) == reference_days(date(2026, 3, 1))


def test_the_feed_needs_its_token_and_lists_occurrences(client: Client, personas: dict[str, User]) -> None:
    service = ServiceFactory.create(slug="checkout")
    approved_window(service)
    assert client.get("/maintenance/calendar.ics").status_code == 401
    assert client.get("/maintenance/calendar.ics?token=forged").status_code == 401
    token = feed_token(personas[DEVOPS_LEAD])
    with time_machine.travel(utc(2026, 3, 10), tick=False):
        answer = client.get(f"/maintenance/calendar.ics?token={token}")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/calendar")
    events = [e for e in Calendar.from_ical(answer.content).walk("VEVENT") if "Sunday" in str(e["summary"])]
    starts = sorted(e.decoded("dtstart") for e in events)
    assert starts[0] >= utc(2026, 3, 10) - timedelta(days=90)
    assert utc(2026, 3, 15, 2) in starts
    assert len(starts) == 62  # the Sundays from 4 January 2026 (its first start) to 7 March 2027 (a year ahead)
    assert all(e.decoded("dtend") - e.decoded("dtstart") == timedelta(hours=4) for e in events)
    personas[DEVOPS_LEAD].is_active = False
    personas[DEVOPS_LEAD].save()
    assert client.get(f"/maintenance/calendar.ics?token={token}").status_code == 401


def test_change_and_host_pages_render(reader: Client) -> None:
    service = ServiceFactory.create(slug="checkout")
    change = services.create_change(title="Resize", services=[service])
    assert b"Missing" in reader.get(change.get_absolute_url()).content
    host, _ = services.create_host(name="web-1", service=service)
    services.record_patch_report(
        host=host, apt_simulate=fixture("apt-get-simulate-upgrade.txt"), needrestart=fixture("needrestart-batch.txt")
    )
    page = reader.get(host.get_absolute_url()).content.decode()
    assert "libssl3" in page
    assert "nginx.service" in page
    assert reader.get("/maintenance/hosts/").status_code == 200
    assert reader.get("/maintenance/changes/?flagged=1").status_code == 200
    assert reader.get("/maintenance/logs/").status_code == 200


def test_pages_need_a_login(client: Client) -> None:
    assert client.get("/maintenance/").status_code == 302
