"""No 5xx from any input: what schemathesis found (issue 12), each a 400 or 409 naming what is wrong.

NUL characters in URL arguments, query parameters and bodies (PostgreSQL cannot hold them), numbers
too large for their column or for a timedelta, filter values that are not what the filter reads, a
delete that other records prevent, a time zone name too long for the file system. `.ci/schema_check`
runs schemathesis itself over the whole schema; these pin the cases down, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import django_filters
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.urls import get_resolver
from rest_framework import serializers
from rest_framework.test import APIClient

from opsgov import filters
from opsgov.api.strict import StrictModelSerializer, StrictSerializer
from opsgov.filters import INTEGER_RANGE
from opsgov.models import Service
from opsgov.roles import SRE_LEAD

from ..factories import ServiceFactory, TeamFactory
from ..incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db

NUL_MESSAGE = "Null characters are not allowed."


@pytest.fixture
def admin(make_user: Callable[..., User], client_for: Callable[[User], APIClient]) -> APIClient:
    return client_for(make_user("root", is_superuser=True))


def errors(response: Any) -> dict[str, str]:
    body = response.json()
    assert body["detail"] == "Invalid input.", body
    return {error["field"]: error["message"] for error in body["errors"]}


# --- NUL characters --------------------------------------------------------------------------------


def test_a_nul_in_a_url_argument_is_a_400_naming_it(admin: APIClient) -> None:
    ServiceFactory.create(slug="auth")

    response = admin.get("/api/v1/services/a%00/")

    assert response.status_code == 400
    assert errors(response) == {"slug": NUL_MESSAGE}


@pytest.mark.parametrize(
    "url",
    ["/api/v1/gate-waivers/?approver=a%00", "/api/v1/services/?owner_team=x%00", "/api/v1/incidents/?q=%00"],
)
def test_a_nul_in_a_query_parameter_is_a_400_naming_it(admin: APIClient, url: str) -> None:
    response = admin.get(url)

    assert response.status_code == 400
    name = url.split("?")[1].split("=")[0]
    assert errors(response) == {name: NUL_MESSAGE}


def test_a_nul_in_a_json_body_is_a_400_naming_each_path_and_writes_nothing(admin: APIClient) -> None:
    TeamFactory.create(slug="platform")

    response = admin.post(
        "/api/v1/services/",
        {
            "slug": "api",
            "name": "API\u0000",
            "owner_team": "platform\u0000",
            "links": [{"title": "ok", "url": "https://example.com/"}, {"title": "x\u0000", "url": "https://e.com/"}],
        },
        format="json",
    )

    assert response.status_code == 400
    assert errors(response) == {"name": NUL_MESSAGE, "owner_team": NUL_MESSAGE, "links.1.title": NUL_MESSAGE}
    assert not Service.objects.filter(slug="api").exists()


def test_a_nul_in_a_json_key_is_named_with_the_nul_spelled_out(admin: APIClient) -> None:
    response = admin.post("/api/v1/teams/", {"slug": "t", "name": "T", "x\u0000": 1}, format="json")

    assert response.status_code == 400
    assert errors(response) == {"x\\x00": NUL_MESSAGE}


def test_a_nul_in_a_form_body_is_a_400_too(admin: APIClient) -> None:
    response = admin.post("/api/v1/teams/", {"slug": "t\u0000", "name": "T"})  # multipart

    assert response.status_code == 400
    assert errors(response) == {"slug": NUL_MESSAGE}


def test_a_page_answers_a_plain_400_for_a_nul(client: Client, make_user: Callable[..., User]) -> None:
    client.force_login(make_user("sre", SRE_LEAD))

    response = client.get("/incidents/?q=%00")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == f"q: {NUL_MESSAGE}"


def test_pages_still_ask_for_a_login_first(client: Client) -> None:
    response = client.get("/incidents/?q=%00")

    assert response.status_code == 302


# --- Numbers ---------------------------------------------------------------------------------------


def test_a_heartbeat_period_beyond_any_duration_is_a_400_naming_it(admin: APIClient) -> None:
    ServiceFactory.create(slug="reporting")

    response = admin.post(
        "/api/v1/checks/heartbeats/",
        {"service": "reporting", "name": "Export", "period": 181687770235804024832, "grace": "9" * 5000},
        format="json",
    )

    assert response.status_code == 400
    problems = errors(response)
    assert set(problems) == {"period", "grace"}
    assert problems["period"].startswith("Ensure this value is less than or equal to")


def test_a_declared_integer_field_is_bounded_by_its_column_or_by_bigint() -> None:
    class Plain(StrictSerializer):
        count = serializers.IntegerField()
        small = serializers.IntegerField(max_value=10)

    class OnService(StrictModelSerializer):
        tier = serializers.IntegerField()

        class Meta:
            model = Service
            fields = ["tier"]

    plain = Plain(data={"count": 2**63, "small": 5})
    assert not plain.is_valid()
    assert set(plain.errors) == {"count"}
    count: Any = Plain().fields["count"]
    small: Any = Plain().fields["small"]
    assert (count.min_value, count.max_value) == INTEGER_RANGE
    assert small.max_value == 10

    low, high = connection.ops.integer_field_range("PositiveSmallIntegerField")
    tier: Any = OnService().fields["tier"]
    assert (tier.min_value, tier.max_value) == (low, high)
    assert not OnService(data={"tier": high + 1}).is_valid()


# --- Filters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("incident=1e30", "incident"),
        ("review=2.3e%2B27", "review"),
        ("review=1.5", "review"),
        ("review=99999999999999999999", "review"),
        ("overdue=maybe", "overdue"),
    ],
)
def test_an_invalid_filter_value_is_a_400_naming_the_parameter(admin: APIClient, query: str, field: str) -> None:
    response = admin.get(f"/api/v1/action-items/?{query}")

    assert response.status_code == 400
    assert set(errors(response)) == {field}


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/teams/?id=x",
        "/api/v1/services/?id=1e3",
        "/api/v1/incidents/?customer_impact=perhaps",
        "/api/v1/reviews/?overdue=2",
        "/api/v1/slos/?enabled=on-ish",
        "/api/v1/alert-rules/?has_runbook=yes%20please",
    ],
)
def test_every_apps_integer_and_boolean_filters_are_strict(admin: APIClient, url: str) -> None:
    response = admin.get(url)

    assert response.status_code == 400
    assert set(errors(response)) == {url.split("?")[1].split("=")[0]}


@pytest.mark.parametrize("value", ["true", "True", "1", "false", "0", "", "unknown"])
def test_a_boolean_filter_takes_the_usual_spellings(admin: APIClient, value: str) -> None:
    assert admin.get(f"/api/v1/action-items/?overdue={value}").status_code == 200


def test_an_integer_filter_still_filters(admin: APIClient) -> None:
    TeamFactory.create(slug="a")
    team = TeamFactory.create(slug="b")

    response = admin.get(f"/api/v1/teams/?id={team.pk}")

    assert [row["slug"] for row in response.json()["results"]] == ["b"]


# --- Deleting what other records need ----------------------------------------------------------------


def test_deleting_a_service_that_incidents_refer_to_is_a_409_naming_them(admin: APIClient) -> None:
    service = ServiceFactory.create(slug="auth")
    IncidentFactory.create(service=service)
    IncidentFactory.create(service=service)

    response = admin.delete("/api/v1/services/auth/")

    assert response.status_code == 409
    body = response.json()
    assert body["protected_by"] == [{"model": "incidents.incident", "name": "incidents", "count": 2}]
    assert body["detail"].startswith("Service auth cannot be deleted")
    assert "2 incidents" in body["detail"]
    assert Service.objects.filter(slug="auth").exists()


# --- Time zones ------------------------------------------------------------------------------------


def test_a_time_zone_name_too_long_for_a_file_name_is_a_400(admin: APIClient) -> None:
    response = admin.post("/api/v1/schedules/", {"slug": "s", "name": "S", "time_zone": "\u00e9" * 200}, format="json")

    assert response.status_code == 400
    assert "time_zone" in errors(response)


def _api_filtersets() -> set[type[Any]]:
    def walk(patterns: list[Any]) -> Iterator[Any]:
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                yield from walk(pattern.url_patterns)
            else:
                yield pattern.callback

    views = [getattr(callback, "cls", None) for callback in walk(get_resolver().url_patterns)]
    return {view.filterset_class for view in views if view is not None and getattr(view, "filterset_class", None)}


def test_every_filterset_of_the_api_refuses_what_it_cannot_read() -> None:
    """A new FilterSet or filter that reads junk as "no filter" (django-filter's defaults) fails here."""
    filtersets = _api_filtersets()
    assert len(filtersets) >= 10

    for filterset in filtersets:
        assert issubclass(filterset, filters.FilterSet), f"{filterset.__name__}: derive from opsgov.filters.FilterSet"
        for name, declared in filterset.base_filters.items():
            where = f"{filterset.__name__}.{name}"
            if isinstance(declared, django_filters.BooleanFilter):
                assert isinstance(declared, filters.BooleanFilter), f"{where}: use opsgov.filters.BooleanFilter"
            if isinstance(declared, django_filters.NumberFilter):
                assert isinstance(declared, filters.IntegerFilter), f"{where}: use opsgov.filters.IntegerFilter"


def test_a_lone_surrogate_in_a_json_key_or_nested_value_is_a_400_naming_it(admin: APIClient) -> None:
    body = b'{"slug": "t", "name": "T", "links": [{"title": "\\udfff", "url": "https://e.com/"}], "\\ud800": 1}'

    response = admin.post("/api/v1/teams/", body, content_type="application/json")

    assert response.status_code == 400
    assert errors(response) == {
        "links.0.title": "Surrogate characters are not allowed: U+DFFF.",
        "\\ud800": "Surrogate characters are not allowed: U+D800.",
    }
