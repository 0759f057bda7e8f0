"""The on-call API: schedules, layers and overrides CRUD with validation, the shifts endpoint,
who is on call now (fixed query count), and permissions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from incidents.models import EscalationLevel, EscalationPolicy, LayerMember, Schedule
from incidents.oncall import services
from opsgov.roles import PRODUCT_OWNER, TECH_LEAD

pytestmark = pytest.mark.django_db

URL = "/api/v1/schedules/"


def dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def people(make_user: Callable[..., User]) -> dict[str, User]:
    return {name: make_user(name) for name in ("alice", "bob", "carol")}


@pytest.fixture
def as_role(make_user: Callable[..., User], client_for: Callable[[User], APIClient]) -> Callable[[str], APIClient]:
    def make(role: str) -> APIClient:
        username = role.lower().replace(" ", "_") if role else "outsider"
        return client_for(make_user(username, *([role] if role else [])))

    return make


@pytest.fixture
def primary(people: dict[str, User]) -> Schedule:
    schedule = services.schedule_create(slug="primary", name="Primary", time_zone="Europe/Berlin")
    services.layer_create(
        schedule=schedule,
        name="Weekly",
        members=[people["alice"], people["bob"], people["carol"]],
        rotation_start=dt("2026-01-05 09:00+01:00"),
    )
    return schedule


def fields_of(response: Any) -> set[str]:
    assert response.status_code == 400, response.json()
    return {error["field"] for error in response.json()["errors"]}


LAYER = {
    "name": "Weekly",
    "rotation_kind": "weekly",
    "rotation_start": "2026-01-05T09:00:00+01:00",
    "handoff_time": "09:00",
    "handoff_weekday": 0,
    "members": ["alice", "bob"],
}


# --- Permissions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [URL, f"{URL}primary/", f"{URL}primary/shifts/", "/api/v1/oncall/now/"])
def test_anonymous_requests_get_401(api_client: APIClient, primary: Schedule, url: str) -> None:
    assert api_client.get(url).status_code == 401


@pytest.mark.parametrize("url", [URL, f"{URL}primary/shifts/", f"{URL}primary/layers/", "/api/v1/oncall/now/"])
def test_a_user_without_a_role_gets_403(as_role: Callable[[str], APIClient], primary: Schedule, url: str) -> None:
    assert as_role("").get(url).status_code == 403


def test_every_role_reads_but_only_the_sre_lead_manages(
    as_role: Callable[[str], APIClient], sre: APIClient, people: dict[str, User], primary: Schedule
) -> None:
    for role in (PRODUCT_OWNER, TECH_LEAD):
        client = as_role(role)
        assert client.get(URL).status_code == 200
        assert client.get(f"{URL}primary/shifts/").status_code == 200
        assert client.get("/api/v1/oncall/now/").status_code == 200
        assert client.post(URL, {"slug": "x", "name": "X"}, format="json").status_code == 403
        assert client.post(f"{URL}primary/layers/", LAYER, format="json").status_code == 403
    assert sre.post(f"{URL}primary/layers/", LAYER, format="json").status_code == 201


# --- Schedules -----------------------------------------------------------------------------------


def test_schedules_are_created_read_changed_and_deleted_by_slug(sre: APIClient) -> None:
    created = sre.post(URL, {"slug": "db", "name": "Database", "time_zone": "America/New_York"}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json() | {"created_at": None, "updated_at": None} == {
        "slug": "db",
        "name": "Database",
        "description": "",
        "time_zone": "America/New_York",
        "team": None,
        "layers": [],
        "created_at": None,
        "updated_at": None,
    }
    assert sre.patch(f"{URL}db/", {"name": "Databases"}, format="json").json()["name"] == "Databases"
    assert sre.get(URL).json()["results"][0]["slug"] == "db"
    assert sre.delete(f"{URL}db/").status_code == 204
    assert not Schedule.objects.exists()


def test_schedule_validation_names_the_field(sre: APIClient, primary: Schedule) -> None:
    assert fields_of(sre.post(URL, {"slug": "x", "name": "X", "time_zone": "Mars/Olympus"}, format="json")) == {
        "time_zone"
    }
    assert fields_of(sre.post(URL, {"slug": "primary", "name": "Again"}, format="json")) == {"slug"}
    assert fields_of(sre.patch(f"{URL}primary/", {"time_zone": "Nowhere"}, format="json")) == {"time_zone"}


def test_a_schedule_paged_by_an_escalation_policy_cannot_be_deleted(sre: APIClient, primary: Schedule) -> None:
    policy = EscalationPolicy.objects.create(slug="web", name="Web")
    EscalationLevel.objects.create(policy=policy, position=1, schedule=primary)

    response = sre.delete(f"{URL}primary/")

    assert response.status_code == 400
    assert "Web" in response.json()["errors"][0]["message"]
    assert Schedule.objects.filter(slug="primary").exists()


def test_the_schedule_shows_its_layers_with_members_in_rotation_order(sre: APIClient, primary: Schedule) -> None:
    layers = sre.get(f"{URL}primary/").json()["layers"]
    assert [(layer["name"], layer["members"]) for layer in layers] == [("Weekly", ["alice", "bob", "carol"])]


# --- Layers --------------------------------------------------------------------------------------


def test_a_layer_is_added_changed_and_removed(sre: APIClient, people: dict[str, User], primary: Schedule) -> None:
    url = f"{URL}primary/layers/"
    created = sre.post(url, LAYER | {"members": ["bob", "alice", "bob"], "priority": 3}, format="json")
    assert created.status_code == 201, created.json()
    layer = created.json()
    assert (layer["members"], layer["priority"], layer["rotation_start"]) == (
        ["bob", "alice", "bob"],
        3,
        "2026-01-05T08:00:00Z",
    )

    changed = sre.patch(f"{url}{layer['id']}/", {"members": ["carol"], "name": "Solo"}, format="json")
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["members"], changed.json()["name"]) == (["carol"], "Solo")
    assert list(LayerMember.objects.filter(layer_id=layer["id"]).values_list("user__username", "position")) == [
        ("carol", 0)
    ]
    assert [row["name"] for row in sre.get(url).json()["results"]] == ["Solo", "Weekly"]  # priority 3 first

    assert sre.delete(f"{url}{layer['id']}/").status_code == 204
    assert [row["name"] for row in sre.get(url).json()["results"]] == ["Weekly"]


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"members": ["alice", "nobody"]}, {"members.1"}),
        ({"members": []}, {"members"}),
        ({"rotation_kind": "hours"}, {"rotation_hours"}),
        ({"rotation_hours": 8}, {"rotation_hours"}),
        ({"rotation_kind": "monthly"}, {"rotation_kind"}),
        ({"rotation_start": "2026-01-05T09:00:00"}, {"rotation_start"}),
        ({"ends_at": "2026-01-01T00:00:00Z"}, {"ends_at"}),
        ({"restrict_start": "09:00"}, {"restrict_end"}),
        ({"restrict_start": "09:00", "restrict_end": "09:00"}, {"restrict_end"}),
        ({"restrict_weekdays": [1, 7]}, {"restrict_weekdays.1"}),
        ({"handoff_weekday": 7}, {"handoff_weekday"}),
    ],
)
def test_layer_validation_names_the_field(
    sre: APIClient, people: dict[str, User], primary: Schedule, change: dict[str, Any], fields: set[str]
) -> None:
    assert fields_of(sre.post(f"{URL}primary/layers/", LAYER | change, format="json")) == fields


def test_layers_of_an_unknown_schedule_are_404(sre: APIClient, people: dict[str, User]) -> None:
    assert sre.get(f"{URL}nope/layers/").status_code == 404
    assert sre.post(f"{URL}nope/layers/", LAYER, format="json").status_code == 404


# --- Overrides -----------------------------------------------------------------------------------


def test_an_override_is_added_listed_and_validated(sre: APIClient, primary: Schedule) -> None:
    url = f"{URL}primary/overrides/"
    body = {"user": "carol", "starts_at": "2026-01-07T12:00:00Z", "ends_at": "2026-01-08T12:00:00Z", "reason": "swap"}
    created = sre.post(url, body, format="json")
    assert created.status_code == 201, created.json()
    assert [row["user"] for row in sre.get(url).json()["results"]] == ["carol"]

    assert fields_of(sre.post(url, body | {"ends_at": "2026-01-07T12:00:00Z"}, format="json")) == {"ends_at"}
    assert fields_of(sre.post(url, body | {"user": "ghost"}, format="json")) == {"user"}
    assert fields_of(
        sre.patch(f"{url}{created.json()['id']}/", {"starts_at": "2026-02-01T00:00:00Z"}, format="json")
    ) == {"ends_at"}
    assert sre.delete(f"{url}{created.json()['id']}/").status_code == 204


# --- Shifts --------------------------------------------------------------------------------------


def test_the_shifts_endpoint_gives_shifts_and_gaps_in_the_schedule_time_zone(sre: APIClient, primary: Schedule) -> None:
    services.override_create(
        schedule=primary,
        user=User.objects.get(username="carol"),
        starts_at=dt("2026-01-07 12:00+01:00"),
        ends_at=dt("2026-01-08 12:00+01:00"),
    )

    response = sre.get(
        f"{URL}primary/shifts/", {"start": "2026-01-05T00:00:00+01:00", "end": "2026-01-13T00:00:00+01:00"}
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["schedule"], body["time_zone"], body["start"], body["end"]) == (
        "primary",
        "Europe/Berlin",
        "2026-01-05T00:00:00+01:00",
        "2026-01-13T00:00:00+01:00",
    )
    assert [(s["user"], s["start"], s["end"], s["source"]) for s in body["shifts"]] == [
        ("alice", "2026-01-05T09:00:00+01:00", "2026-01-07T12:00:00+01:00", "Weekly"),
        ("carol", "2026-01-07T12:00:00+01:00", "2026-01-08T12:00:00+01:00", "override"),
        ("alice", "2026-01-08T12:00:00+01:00", "2026-01-12T09:00:00+01:00", "Weekly"),
        ("bob", "2026-01-12T09:00:00+01:00", "2026-01-13T00:00:00+01:00", "Weekly"),
    ]
    assert body["shifts"][1]["override"] is not None and body["shifts"][1]["layer"] is None
    assert body["gaps"] == [{"start": "2026-01-05T00:00:00+01:00", "end": "2026-01-05T09:00:00+01:00"}]


def test_the_shifts_endpoint_defaults_to_the_next_14_days(sre: APIClient, primary: Schedule) -> None:
    with time_machine.travel(dt("2026-02-01 10:00+00:00"), tick=False):
        body = sre.get(f"{URL}primary/shifts/").json()
    assert (body["start"], body["end"]) == ("2026-02-01T11:00:00+01:00", "2026-02-15T11:00:00+01:00")


def test_an_unencoded_plus_in_the_offset_is_understood(sre: APIClient, primary: Schedule) -> None:
    response = sre.get(f"{URL}primary/shifts/?start=2026-01-05T00:00:00+01:00&end=2026-01-06T00:00:00+01:00")
    assert response.status_code == 200, response.json()
    assert response.json()["start"] == "2026-01-05T00:00:00+01:00"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "yesterday"}, "start"),
        ({"end": "2026-13-01T00:00:00Z"}, "end"),
        ({"start": "2026-01-05T00:00:00"}, "start"),
        ({"start": "2026-01-05T00:00:00Z", "end": "2026-01-04T00:00:00Z"}, "end"),
        ({"start": "2026-01-01T00:00:00Z", "end": "2026-04-04T00:00:01Z"}, "end"),
    ],
)
def test_bad_shift_ranges_are_400s_naming_the_parameter(
    sre: APIClient, primary: Schedule, query: dict[str, str], field: str
) -> None:
    assert fields_of(sre.get(f"{URL}primary/shifts/", query)) == {field}


def test_a_93_day_range_is_allowed(sre: APIClient, primary: Schedule) -> None:
    response = sre.get(f"{URL}primary/shifts/", {"start": "2026-01-01T00:00:00Z", "end": "2026-04-04T00:00:00Z"})
    assert response.status_code == 200


def test_shifts_of_an_unknown_schedule_are_404(sre: APIClient) -> None:
    assert sre.get(f"{URL}nope/shifts/").status_code == 404


# --- On call now ---------------------------------------------------------------------------------


def _add_schedules(numbers: range, people: dict[str, User]) -> None:
    for number in numbers:
        schedule = services.schedule_create(slug=f"extra-{number}", name=f"Extra {number}", time_zone="UTC")
        services.layer_create(
            schedule=schedule,
            name="Daily",
            rotation_kind="daily",
            members=[people["alice"], people["bob"]],
            rotation_start=dt("2026-01-01 09:00+00:00"),
        )
        services.override_create(
            schedule=schedule, user=people["carol"], starts_at=dt("2026-01-10 00:00Z"), ends_at=dt("2026-01-20 00:00Z")
        )


def test_oncall_now_says_who_until_when_and_who_is_next(sre: APIClient, primary: Schedule) -> None:
    services.schedule_create(slug="empty", name="Empty", time_zone="UTC")
    with time_machine.travel(dt("2026-01-14 12:00+01:00"), tick=False):
        body = sre.get("/api/v1/oncall/now/").json()

    # Week 2 of the rotation (Mon 01-12 to Mon 01-19 09:00): bob, then carol.
    assert body["results"] == [
        {
            "schedule": "empty",
            "name": "Empty",
            "time_zone": "UTC",
            "on_call": None,
            "source": None,
            "until": None,
            "next": None,
            "next_start": None,
        },
        {
            "schedule": "primary",
            "name": "Primary",
            "time_zone": "Europe/Berlin",
            "on_call": "bob",
            "source": "Weekly",
            "until": "2026-01-19T09:00:00+01:00",
            "next": "carol",
            "next_start": "2026-01-19T09:00:00+01:00",
        },
    ]


def test_oncall_now_takes_a_fixed_number_of_queries(sre: APIClient, people: dict[str, User], primary: Schedule) -> None:
    def count() -> int:
        with time_machine.travel(dt("2026-01-14 12:00Z"), tick=False), CaptureQueriesContext(connection) as queries:
            assert sre.get("/api/v1/oncall/now/").status_code == 200
        return len(queries)

    _add_schedules(range(1), people)
    few = count()
    _add_schedules(range(1, 6), people)
    assert count() == few
