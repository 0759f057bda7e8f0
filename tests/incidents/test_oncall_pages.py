"""The on-call pages: who is on call now, and one schedule's next 14 days with gaps and overrides."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, time
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents.models import RotationKind, Schedule
from incidents.oncall import services
from opsgov.roles import PRODUCT_OWNER

pytestmark = pytest.mark.django_db

NOW = datetime.fromisoformat("2026-01-14 12:00+01:00")  # a Wednesday


def text(response: HttpResponseBase) -> str:
    assert isinstance(response, HttpResponse)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def people(make_user: Callable[..., User]) -> dict[str, User]:
    return {name: make_user(name, first_name=name.title(), last_name="Example") for name in ("alice", "bob", "carol")}


@pytest.fixture
def signed_in(client: Client, make_user: Callable[..., User]) -> Client:
    client.force_login(make_user("po", PRODUCT_OWNER))
    return client


@pytest.fixture
def business_hours(people: dict[str, User]) -> Schedule:
    """Weekdays 09:00-17:00 Berlin only (nights and weekends are gaps), with one override."""
    schedule = services.schedule_create(slug="business", name="Business hours", time_zone="Europe/Berlin")
    services.layer_create(
        schedule=schedule,
        name="Day desk",
        rotation_kind=RotationKind.DAILY,
        members=[people["alice"], people["bob"]],
        rotation_start=datetime.fromisoformat("2026-01-05 09:00+01:00"),
        restrict_weekdays=[0, 1, 2, 3, 4],
        restrict_start=time(9),
        restrict_end=time(17),
    )
    services.override_create(
        schedule=schedule,
        user=people["carol"],
        starts_at=datetime.fromisoformat("2026-01-15 13:00+01:00"),
        ends_at=datetime.fromisoformat("2026-01-15 15:00+01:00"),
        reason="dentist swap",
    )
    return schedule


@pytest.mark.parametrize(("name", "kwargs"), [("oncall-now", {}), ("schedule-detail", {"slug": "business"})])
def test_anonymous_visitors_are_sent_to_the_login_page(client: Client, name: str, kwargs: dict[str, Any]) -> None:
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_navigation_links_to_on_call(signed_in: Client) -> None:
    assert f'href="{reverse("oncall-now")}"' in text(signed_in.get(reverse("incident-list")))


def test_the_now_page_shows_who_until_when_and_who_is_next(signed_in: Client, business_hours: Schedule) -> None:
    with time_machine.travel(NOW, tick=False):
        page = text(signed_in.get(reverse("oncall-now")))

    # Daily from Monday 01-05 09:00 (shift 0, alice): Wednesday 01-14 09:00 starts shift 9, bob's,
    # covered 09:00-17:00 only; then nobody until Thursday 09:00, alice's shift 10.
    row = page[page.index('id="schedule-business"') :]
    row = row[: row.index("</tr>")]
    assert "Bob Example" in row
    assert "Day desk" in row
    assert "Wed 14 Jan 17:00 CET" in row
    assert "Alice Example" in row and "Thu 15 Jan 09:00" in row
    assert business_hours.get_absolute_url() in row


def test_the_now_page_says_when_nobody_is_on_call(signed_in: Client, business_hours: Schedule) -> None:
    with time_machine.travel(datetime.fromisoformat("2026-01-17 12:00+01:00"), tick=False):  # a Saturday
        page = text(signed_in.get(reverse("oncall-now")))

    assert "1 schedule with nobody on call right now" in page
    assert re.search(r'class="oncall-row-gap".*?Nobody on call', page, re.S)


def test_the_now_page_takes_a_fixed_number_of_queries(
    signed_in: Client, people: dict[str, User], business_hours: Schedule
) -> None:
    def count() -> int:
        with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as queries:
            text(signed_in.get(reverse("oncall-now")))
        return len(queries)

    few = count()
    for number in range(4):
        schedule = services.schedule_create(slug=f"s{number}", name=f"S{number}")
        services.layer_create(
            schedule=schedule,
            name="L",
            members=[people["alice"]],
            rotation_start=datetime.fromisoformat("2026-01-01T00:00Z"),
        )
    assert count() == few


def test_the_schedule_page_shows_14_days_with_gaps_in_red_and_overrides_marked(
    signed_in: Client, business_hours: Schedule
) -> None:
    with time_machine.travel(NOW, tick=False):
        page = text(signed_in.get(reverse("schedule-detail", kwargs={"slug": "business"})))

    assert page.count('<li class="oncall-day') == 14
    # Thursday 01-15 is shift 10 (alice), split by carol's override 13:00-15:00.
    thursday = page[page.index('<h3 class="oncall-day-title">Thu 15 Jan') :]
    thursday = thursday[: thursday.index("</table>")]
    cells = re.findall(r"<td class=\"timeline-at\">([^<]+)</td>\s*<td[^>]*>(.*?)</td>", thursday, re.S)
    rows = [(when.replace("\u2013", "-"), re.sub(r"<[^>]+>", "", who).strip()) for when, who in cells]
    assert rows == [
        ("00:00-09:00", "Nobody on call 9 h"),
        ("09:00-13:00", "Alice Example"),
        ("13:00-15:00", "Carol Example"),
        ("15:00-17:00", "Alice Example"),
        ("17:00-24:00", "Nobody on call 7 h"),
    ]
    assert 'class="oncall-gap"' in thursday
    assert 'class="oncall-override"' in thursday and "dentist swap" in thursday
    assert "oncall-bar-gap" in thursday
    assert "Nobody on call for" in page  # the summary callout


def test_the_schedule_page_of_an_unknown_schedule_is_404(signed_in: Client) -> None:
    assert signed_in.get(reverse("schedule-detail", kwargs={"slug": "nope"})).status_code == 404


def test_a_dst_day_is_shown_with_its_real_length(signed_in: Client, people: dict[str, User]) -> None:
    schedule = services.schedule_create(slug="always", name="Always", time_zone="Europe/Berlin")
    services.layer_create(
        schedule=schedule,
        name="L",
        members=[people["alice"]],
        rotation_start=datetime.fromisoformat("2026-01-01T00:00Z"),
    )
    with time_machine.travel(datetime.fromisoformat("2026-03-25 12:00+01:00"), tick=False):
        page = text(signed_in.get(schedule.get_absolute_url()))

    assert 'Sun 29 Mar <span class="muted">(23 h: clocks change)</span>' in page
    assert "Nobody on call for" not in page
