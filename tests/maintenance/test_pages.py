"""The month calendar, the iCalendar feed, change and host pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from icalendar import Calendar

from maintenance import services
from maintenance.views import feed_token
from opsgov.roles import DEVOPS_LEAD
from tests.factories import ServiceFactory

from .support import approved_window, fixture, utc

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
