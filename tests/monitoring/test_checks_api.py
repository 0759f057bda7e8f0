"""The checks API: CRUD of HTTP checks and heartbeats, filters, pause/resume, field errors, roles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from monitoring.checks import services as checks
from monitoring.models import CheckStatus, Heartbeat, HttpCheck
from opsgov.roles import ALL_ROLES, SRE_LEAD
from tests.factories import ServiceFactory

from .check_support import alert_actions, make_check_slo, make_heartbeat, make_http_check

pytestmark = pytest.mark.django_db

HTTP = "/api/v1/checks/http/"
HEARTBEATS = "/api/v1/checks/heartbeats/"


@pytest.fixture
def sre(personas: dict[str, User], client_for: Callable[[User], APIClient]) -> APIClient:
    return client_for(personas[SRE_LEAD])


def errors_of(response: Any) -> dict[str, str]:
    assert response.status_code == 400, response.content
    return {error["field"]: error["message"] for error in response.json()["errors"]}


# --- HTTP checks -----------------------------------------------------------------------------------


def test_an_sre_lead_creates_an_http_check_due_at_once(sre: APIClient) -> None:
    service = ServiceFactory.create(slug="checkout")
    slo = make_check_slo(service)
    response = sre.post(
        HTTP,
        {
            "service": "checkout",
            "name": "Checkout health",
            "url": "https://checkout.example.com/healthz",
            "method": "HEAD",
            "expected_status_min": 200,
            "expected_status_max": 204,
            "interval_seconds": 30,
            "slo": str(slo.uuid),
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["failure_threshold"], body["severity"], body["slo"]) == (
        "new",
        2,
        "SEV-3",
        str(slo.uuid),
    )
    check = HttpCheck.objects.get(uuid=body["uuid"])
    assert check.next_run_at is not None


def test_http_check_fields_are_validated_with_their_paths(sre: APIClient) -> None:
    ServiceFactory.create(slug="checkout")
    response = sre.post(
        HTTP,
        {
            "service": "checkout",
            "name": "x",
            "url": "ftp://example.com/",
            "method": "PUT",
            "interval_seconds": 5,
            "timeout_ms": 120000,
            "severity": "SEV-9",
        },
        format="json",
    )
    assert set(errors_of(response)) == {"url", "method", "interval_seconds", "timeout_ms", "severity"}

    response = sre.post(
        HTTP,
        {
            "service": "checkout",
            "name": "y",
            "url": "https://e.com/",
            "expected_status_min": 300,
            "expected_status_max": 200,
        },
        format="json",
    )
    assert set(errors_of(response)) == {"expected_status_max"}


def test_an_slo_not_fed_by_checks_is_refused(sre: APIClient) -> None:
    service = ServiceFactory.create(slug="checkout")
    pushed = make_check_slo(service, source="push")
    response = sre.post(
        HTTP,
        {"service": "checkout", "name": "x", "url": "https://e.com/", "slo": str(pushed.uuid)},
        format="json",
    )
    assert set(errors_of(response)) == {"slo"}


def test_http_checks_filter_by_service_status_and_q(sre: APIClient) -> None:
    checkout = ServiceFactory.create(slug="checkout", name="Checkout")
    auth = ServiceFactory.create(slug="auth", name="Auth")
    down = make_http_check("http://127.0.0.1:9/pay", service=checkout, name="Payments page", failure_threshold=1)
    checks.record_http_result(
        check=down,
        scheduled_for=down.created_at,
        probe=checks.Probe(at=down.created_at, ok=False, status_code=500, latency_ms=3, error="Answered 500."),
    )
    make_http_check("http://127.0.0.1:9/basket", service=checkout, name="Basket")
    make_http_check("http://127.0.0.1:9/login", service=auth, name="Login")

    def names(query: str) -> list[str]:
        response = sre.get(HTTP + query)
        assert response.status_code == 200, response.json()
        return [row["name"] for row in response.json()["results"]]

    assert names("?service=checkout") == ["Basket", "Payments page"]
    assert names("?status=down") == ["Payments page"]
    assert names("?status=new&service=auth") == ["Login"]
    assert names("?q=login") == ["Login"]
    assert names("?q=basket") == ["Basket"], "q searches the URL too"
    assert set(errors_of(sre.get(HTTP + "?service=nope"))) == {"service"}


def test_the_detail_shows_recent_results_and_flips(sre: APIClient) -> None:
    check = make_http_check("http://127.0.0.1:9/x", failure_threshold=1)
    checks.record_http_result(
        check=check,
        scheduled_for=check.created_at,
        probe=checks.Probe(at=check.created_at, ok=False, status_code=None, latency_ms=None, error="Timed out."),
    )
    body = sre.get(f"{HTTP}{check.uuid}/").json()
    assert body["status"] == "down"
    assert [(row["ok"], row["error"]) for row in body["recent_results"]] == [(False, "Timed out.")]
    assert [(row["old_status"], row["new_status"], row["reason"]) for row in body["recent_flips"]] == [
        ("new", "down", "check-failed")
    ]


def test_patch_pause_and_resume(sre: APIClient) -> None:
    check = make_http_check("http://127.0.0.1:9/x", failure_threshold=1)
    checks.record_http_result(
        check=check,
        scheduled_for=check.created_at,
        probe=checks.Probe(at=check.created_at, ok=False, status_code=500, latency_ms=2, error="Answered 500."),
    )
    response = sre.patch(f"{HTTP}{check.uuid}/", {"interval_seconds": 300}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["interval_seconds"] == 300

    paused = sre.post(f"{HTTP}{check.uuid}/pause/")
    assert paused.status_code == 200
    assert (paused.json()["status"], paused.json()["enabled"], paused.json()["next_run_at"]) == ("paused", False, None)
    assert alert_actions(check.alert_key) == ["trigger", "resolve"]
    resumed = sre.post(f"{HTTP}{check.uuid}/resume/")
    assert (resumed.json()["status"], resumed.json()["enabled"]) == ("new", True)

    assert sre.delete(f"{HTTP}{check.uuid}/").status_code == 204
    assert not HttpCheck.objects.exists()


def test_read_only_fields_cannot_be_written(sre: APIClient) -> None:
    check = make_http_check("http://127.0.0.1:9/x")
    response = sre.patch(f"{HTTP}{check.uuid}/", {"status": "up", "consecutive_failures": 9}, format="json")
    assert response.status_code == 400
    assert {error["field"] for error in response.json()["errors"]} == {"status", "consecutive_failures"}
    assert all("read-only" in error["message"] for error in response.json()["errors"])
    check.refresh_from_db()
    assert (check.status, check.consecutive_failures) == (CheckStatus.NEW, 0)


# --- Heartbeats ------------------------------------------------------------------------------------


def test_a_created_heartbeat_shows_its_ping_url(sre: APIClient, settings) -> None:
    settings.OPSGOV_BASE_URL = "https://opsgov.example.com/"
    ServiceFactory.create(slug="reporting")
    response = sre.post(
        HEARTBEATS,
        {"service": "reporting", "name": "Nightly export", "period": 86400, "grace": 1800},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["ping_url"] == f"https://opsgov.example.com/ping/{body['uuid']}"
    assert (body["status"], body["period"], body["grace"], body["severity"]) == ("new", 86400, 1800, "SEV-3")
    heartbeat = Heartbeat.objects.get(uuid=body["uuid"])
    assert (heartbeat.period, heartbeat.grace) == (timedelta(days=1), timedelta(minutes=30))

    detail = sre.get(f"{HEARTBEATS}{heartbeat.uuid}/").json()
    assert detail["ping_url"] == body["ping_url"]
    assert detail["recent_pings"] == [] and detail["recent_flips"] == []


def test_heartbeat_fields_are_validated_with_their_paths(sre: APIClient) -> None:
    ServiceFactory.create(slug="reporting")
    response = sre.post(
        HEARTBEATS,
        {"service": "reporting", "name": "x", "period": 10, "grace": "soon", "severity": "SEV-0"},
        format="json",
    )
    assert set(errors_of(response)) == {"grace", "severity"}
    response = sre.post(HEARTBEATS, {"service": "reporting", "name": "x", "period": 10}, format="json")
    assert set(errors_of(response)) == {"period"}


def test_heartbeats_filter_and_show_pings(sre: APIClient) -> None:
    reporting = ServiceFactory.create(slug="reporting")
    late = make_heartbeat(service=reporting, name="Finance report")
    make_heartbeat(service=reporting, name="Cache refresh", description="warms the report cache")
    checks.heartbeat_ping(uuid=late.uuid, ping=checks.PingRequest(kind="fail", method="POST", body=b"exit 1"))

    rows = sre.get(HEARTBEATS + "?status=down").json()["results"]
    assert [row["name"] for row in rows] == ["Finance report"]
    assert [row["name"] for row in sre.get(HEARTBEATS + "?q=warms").json()["results"]] == ["Cache refresh"]
    detail = sre.get(f"{HEARTBEATS}{late.uuid}/").json()
    assert [(ping["n"], ping["kind"], ping["body"]) for ping in detail["recent_pings"]] == [(1, "fail", "exit 1")]


def test_heartbeat_pause_and_resume(sre: APIClient) -> None:
    heartbeat = make_heartbeat()
    assert sre.post(f"{HEARTBEATS}{heartbeat.uuid}/pause/").json()["status"] == "paused"
    assert sre.post(f"{HEARTBEATS}{heartbeat.uuid}/resume/").json()["status"] == "new"
    assert sre.delete(f"{HEARTBEATS}{heartbeat.uuid}/").status_code == 204


# --- Roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [*ALL_ROLES, "outsider"])
def test_every_role_reads_only_the_sre_lead_changes(
    role: str, personas: dict[str, User], client_for: Callable[[User], APIClient]
) -> None:
    client = client_for(personas[role])
    check = make_http_check("http://127.0.0.1:9/x")
    heartbeat = make_heartbeat()
    may_read = role != "outsider"
    may_change = role == SRE_LEAD
    for url in (HTTP, f"{HTTP}{check.uuid}/", HEARTBEATS, f"{HEARTBEATS}{heartbeat.uuid}/"):
        assert client.get(url).status_code == (200 if may_read else 403), url
    for url in (f"{HTTP}{check.uuid}/pause/", f"{HEARTBEATS}{heartbeat.uuid}/pause/"):
        assert client.post(url).status_code == (200 if may_change else 403), url
    response = client.patch(f"{HEARTBEATS}{heartbeat.uuid}/", {"name": "renamed"}, format="json")
    assert response.status_code == (200 if may_change else 403)


def test_anonymous_requests_get_401(api_client: APIClient) -> None:
    assert api_client.get(HTTP).status_code == 401
    assert api_client.get(HEARTBEATS).status_code == 401


def test_the_lists_use_a_fixed_number_of_queries(sre: APIClient, django_assert_max_num_queries) -> None:
    for n in range(15):
        service = ServiceFactory.create()
        make_http_check(f"http://127.0.0.1:9/{n}", service=service, name=f"check {n}")
        make_heartbeat(service=service, name=f"job {n}")
    # auth (token lookup + user) + count + page, whatever the number of rows.
    with django_assert_max_num_queries(6):
        assert len(sre.get(HTTP).json()["results"]) == 15
    with django_assert_max_num_queries(6):
        assert len(sre.get(HEARTBEATS).json()["results"]) == 15


def test_the_schema_documents_both_endpoints(sre: APIClient) -> None:
    schema = sre.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/checks/http/",
        "/api/v1/checks/http/{uuid}/",
        "/api/v1/checks/http/{uuid}/pause/",
        "/api/v1/checks/heartbeats/",
        "/api/v1/checks/heartbeats/{uuid}/",
        "/api/v1/checks/heartbeats/{uuid}/resume/",
    ):
        assert path in paths, path
    assert "ping_url" in schema["components"]["schemas"]["Heartbeat"]["properties"]
    parameters = {parameter["name"] for parameter in paths["/api/v1/checks/heartbeats/"]["get"]["parameters"]}
    assert {"service", "status", "q"} <= parameters
