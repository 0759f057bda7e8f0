"""The incidents API: declare, read with the timeline, change, lifecycle actions, filters,
cursor pagination, query counts, permissions; integrations with a token shown once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from incidents import services
from incidents.models import Incident, IncidentStatus, Integration, RawEvent, TimelineKind, hash_token
from opsgov.roles import SECURITY_LEAD, SRE_LEAD, TECH_LEAD

from ..factories import ServiceFactory
from .factories import IncidentFactory, IntegrationFactory

pytestmark = pytest.mark.django_db


URL = "/api/v1/incidents/"


@pytest.fixture
def as_role(make_user: Callable[..., User], client_for: Callable[[User], APIClient]) -> Callable[[str], APIClient]:
    def make(role: str) -> APIClient:
        username = role.lower().replace(" ", "_") if role else "outsider"
        return client_for(make_user(username, *([role] if role else [])))

    return make


@pytest.fixture
def checkout() -> Any:
    return ServiceFactory.create(slug="checkout", name="Checkout")


def fields_of(response: Any) -> set[str]:
    assert response.status_code == 400, response.json()
    return {error["field"] for error in response.json()["errors"]}


def ago(**delta: float) -> datetime:
    return (timezone.now() - timedelta(**delta)).replace(microsecond=0)


# --- Declare and read -----------------------------------------------------------------------


def test_it_declares_an_incident_and_reads_it_back_with_its_timeline(sre: APIClient, checkout: Any) -> None:
    ServiceFactory.create(slug="auth")
    response = sre.post(
        URL,
        {
            "title": "Checkout errors",
            "service": "checkout",
            "severity": "SEV-2",
            "summary": "5xx on /pay",
            "customer_impact": True,
            "impacted_services": ["auth"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    incident = Incident.objects.get()
    assert body["id"] == f"INC-{incident.pk}"
    assert body["number"] == incident.pk
    assert body["uuid"] == str(incident.uuid)
    assert (body["service"], body["severity"], body["status"]) == ("checkout", "SEV-2", "triggered")
    assert body["impacted_services"] == ["auth"]
    assert body["customer_impact"] is True
    assert [(entry["kind"], entry["actor"]) for entry in body["timeline"]] == [("triggered", "sre")]

    detail = sre.get(f"{URL}{incident.pk}/").json()
    assert detail == body


def test_it_records_an_incident_from_history(sre: APIClient, checkout: Any) -> None:
    when = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    response = sre.post(
        URL,
        {
            "title": "Old outage",
            "service": "checkout",
            "severity": "SEV-1",
            "triggered_at": "2026-01-05T10:30:00+01:00",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert Incident.objects.get().triggered_at == when
    assert response.json()["timeline"][0]["at"].startswith("2026-01-05T09:30:00")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"severity": "SEV-9"}, "severity"),
        ({"service": "nope"}, "service"),
        ({"triggered_at": "2026-01-05T10:30:00"}, "triggered_at"),
        ({"triggered_at": "2999-01-01T00:00:00Z"}, "triggered_at"),
        ({"title": ""}, "title"),
        ({"commander": "nobody"}, "commander"),
    ],
)
def test_bad_input_is_a_400_on_its_field_and_writes_nothing(
    sre: APIClient, checkout: Any, change: dict[str, str], field: str
) -> None:
    data = {"title": "Checkout errors", "service": "checkout", "severity": "SEV-2", **change}
    assert fields_of(sre.post(URL, data, format="json")) == {field}
    assert not Incident.objects.exists()


def test_an_unknown_incident_is_not_found(sre: APIClient) -> None:
    assert sre.get(f"{URL}999/").status_code == 404
    assert sre.post(f"{URL}999/acknowledge/").status_code == 404


def test_incidents_are_not_deleted_or_replaced(sre: APIClient) -> None:
    incident = IncidentFactory.create()
    assert sre.delete(f"{URL}{incident.pk}/").status_code == 405
    assert sre.put(f"{URL}{incident.pk}/", {"title": "x"}, format="json").status_code == 405


# --- Change ------------------------------------------------------------------------------------


def test_patch_changes_descriptive_fields_and_logs_each_change(sre: APIClient, make_user: Callable[..., User]) -> None:
    make_user("tech", TECH_LEAD)
    incident = IncidentFactory.create(severity="SEV-3", title="Slow")
    response = sre.patch(
        f"{URL}{incident.pk}/",
        {"severity": "SEV-2", "commander": "tech", "customer_impact": True, "title": "Very slow"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["severity"], body["commander"], body["customer_impact"], body["title"]) == (
        "SEV-2",
        "tech",
        True,
        "Very slow",
    )
    changed = {entry["data"]["field"] for entry in body["timeline"] if entry["kind"] == TimelineKind.FIELD}
    assert changed == {"severity", "commander", "customer_impact", "title"}


@pytest.mark.parametrize(
    ("change", "field"),
    [({"severity": "SEV-0"}, "severity"), ({"status": "resolved"}, "status"), ({"commander": "ghost"}, "commander")],
)
def test_patch_refuses_what_it_cannot_change(sre: APIClient, change: dict[str, str], field: str) -> None:
    incident = IncidentFactory.create(severity="SEV-3")
    assert fields_of(sre.patch(f"{URL}{incident.pk}/", change, format="json")) == {field}
    incident.refresh_from_db()
    assert (incident.severity, incident.status) == ("SEV-3", IncidentStatus.TRIGGERED)


# --- Lifecycle actions --------------------------------------------------------------------------


def test_each_action_moves_the_incident_and_extends_the_timeline(sre: APIClient) -> None:
    incident = IncidentFactory.create(triggered_at=ago(hours=2))
    path = f"{URL}{incident.pk}"

    body = sre.post(f"{path}/acknowledge/").json()
    assert (body["status"], body["commander"]) == ("acknowledged", "sre")

    body = sre.post(f"{path}/mitigate/", {"message": "Rolled back"}, format="json").json()
    assert body["status"] == "mitigated"
    assert body["timeline"][-1]["message"] == "Rolled back"

    body = sre.post(f"{path}/resolve/", {"message": "Fixed the pool size"}, format="json").json()
    assert body["status"] == "resolved" and body["resolved_at"]

    body = sre.post(f"{path}/reopen/", {"reason": "Errors are back"}, format="json").json()
    assert (body["status"], body["reopen_count"], body["resolved_at"]) == ("acknowledged", 1, None)

    body = sre.post(f"{path}/cancel/", {"reason": "It was the load test"}, format="json").json()
    assert body["status"] == "cancelled"

    note = sre.post(f"{path}/note/", {"message": "Load tests now announced in #ops"}, format="json")
    assert note.status_code == 201
    assert (note.json()["kind"], note.json()["actor"]) == ("note", "sre")

    timeline = sre.get(f"{path}/").json()["timeline"]
    assert [entry["kind"] for entry in timeline] == [
        "triggered",
        "status",
        "status",
        "status",
        "reopened",
        "status",
        "note",
    ]
    assert [entry["at"] for entry in timeline] == sorted(entry["at"] for entry in timeline)
    assert {entry["actor"] for entry in timeline[1:]} == {"sre"}


def test_actions_accept_the_instant_it_happened(sre: APIClient) -> None:
    triggered = ago(hours=3)
    incident = IncidentFactory.create(triggered_at=triggered)
    acked = triggered + timedelta(minutes=6, seconds=30)
    resolved = triggered + timedelta(hours=1)
    sre.post(f"{URL}{incident.pk}/acknowledge/", {"at": acked.isoformat()}, format="json")
    sre.post(f"{URL}{incident.pk}/resolve/", {"at": resolved.isoformat()}, format="json")
    incident.refresh_from_db()
    assert (incident.acknowledged_at, incident.resolved_at) == (acked, resolved)


def test_a_refused_transition_is_a_400_naming_the_status(sre: APIClient) -> None:
    incident = IncidentFactory.create()
    sre.post(f"{URL}{incident.pk}/resolve/")
    response = sre.post(f"{URL}{incident.pk}/acknowledge/")
    assert fields_of(response) == {"status"}
    assert "Reopen it first" in response.json()["errors"][0]["message"]
    assert fields_of(sre.post(f"{URL}{IncidentFactory.create().pk}/reopen/", {"reason": "x"})) == {"status"}


def test_an_instant_before_the_trigger_is_a_400_on_at(sre: APIClient) -> None:
    incident = IncidentFactory.create(triggered_at=ago(hours=1))
    response = sre.post(f"{URL}{incident.pk}/acknowledge/", {"at": ago(hours=2).isoformat()}, format="json")
    assert fields_of(response) == {"at"}
    assert fields_of(sre.post(f"{URL}{incident.pk}/resolve/", {"at": "2026-01-01T10:00:00"}, format="json")) == {"at"}
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.TRIGGERED


@pytest.mark.parametrize(("action", "field"), [("reopen", "reason"), ("cancel", "reason"), ("note", "message")])
def test_reasons_and_notes_need_text(sre: APIClient, action: str, field: str) -> None:
    incident = IncidentFactory.create()
    assert fields_of(sre.post(f"{URL}{incident.pk}/{action}/", {}, format="json")) == {field}
    assert fields_of(sre.post(f"{URL}{incident.pk}/{action}/", {field: ""}, format="json")) == {field}


# --- Filters and pagination ---------------------------------------------------------------------


@pytest.fixture
def catalogue() -> dict[str, Incident]:
    checkout = ServiceFactory.create(slug="checkout")
    auth = ServiceFactory.create(slug="auth")
    search = ServiceFactory.create(slug="search")
    incidents = {
        "pay": IncidentFactory.create(
            service=checkout, severity="SEV-1", title="Payments down", customer_impact=True, triggered_at=ago(days=1)
        ),
        "login": IncidentFactory.create(
            service=auth, severity="SEV-2", title="Login slow", summary="OIDC latency", triggered_at=ago(days=10)
        ),
        "index": IncidentFactory.create(
            service=search, severity="SEV-4", title="Index stale", triggered_at=ago(days=40)
        ),
    }
    services.incident_resolve(incident=incidents["login"])
    return incidents


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["pay", "login", "index"]),
        ("service=checkout&service=search", ["pay", "index"]),
        ("severity=SEV-1&severity=SEV-2", ["pay", "login"]),
        ("status=resolved", ["login"]),
        ("status=triggered&status=acknowledged", ["pay", "index"]),
        ("customer_impact=true", ["pay"]),
        ("customer_impact=false", ["login", "index"]),
        ("q=oidc", ["login"]),
        ("q=STALE", ["index"]),
        ("triggered_after={days20}", ["pay", "login"]),
        ("triggered_before={days5}", ["login", "index"]),
        ("triggered_after={days20}&triggered_before={days5}", ["login"]),
    ],
)
def test_the_list_filters(sre: APIClient, catalogue: dict[str, Incident], query: str, expected: list[str]) -> None:
    query = query.format(days20=ago(days=20).isoformat().replace("+", "%2B"), days5=ago(days=5).date().isoformat())
    response = sre.get(f"{URL}?{query}")
    assert response.status_code == 200, response.json()
    numbers = [row["number"] for row in response.json()["results"]]
    assert numbers == [catalogue[name].pk for name in expected]


@pytest.mark.parametrize(("query", "field"), [("service=nope", "service"), ("severity=SEV-9", "severity")])
def test_an_unknown_filter_value_is_a_400(sre: APIClient, query: str, field: str) -> None:
    assert fields_of(sre.get(f"{URL}?{query}")) == {field}


def test_the_list_is_cursor_paginated_newest_first_without_a_count(sre: APIClient) -> None:
    service = ServiceFactory.create()
    same_instant = ago(hours=5)
    created = [IncidentFactory.create(service=service, triggered_at=same_instant) for _ in range(3)]
    created += [IncidentFactory.create(service=service, triggered_at=ago(hours=4 - index)) for index in range(4)]
    expected = [incident.pk for incident in sorted(created, key=lambda i: (i.triggered_at, i.pk), reverse=True)]

    seen: list[int] = []
    page = sre.get(f"{URL}?page_size=3").json()
    assert "count" not in page and "cursor=" in page["next"]
    while True:
        seen += [row["number"] for row in page["results"]]
        if not page["next"]:
            break
        page = sre.get(page["next"]).json()
    assert seen == expected


def test_the_list_needs_a_fixed_number_of_queries(
    sre: APIClient, make_user: Callable[..., User], django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    commander = make_user("commander", SRE_LEAD)
    services_ = [ServiceFactory.create() for _ in range(3)]

    def add(count: int) -> None:
        for index in range(count):
            incident = IncidentFactory.create(service=services_[index % 3], impacted_services=services_[:2])
            services.incident_acknowledge(incident=incident, actor=commander)

    add(5)
    # token (2), permissions (2), the page with service, commander and integration joined, impacted services.
    with django_assert_max_num_queries(6) as few:
        assert len(sre.get(URL).json()["results"]) == 5
    add(45)
    with django_assert_max_num_queries(6) as many:
        assert len(sre.get(URL).json()["results"]) == 50
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_detail_needs_a_fixed_number_of_queries(
    sre: APIClient, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    incident = IncidentFactory.create()
    # token (2), permissions (2), the incident, impacted services, the newest timeline entries with their
    # actors, the context's alert signals and timeline signals.
    with django_assert_max_num_queries(9) as few:
        sre.get(f"{URL}{incident.pk}/")
    for index in range(20):
        services.incident_add_note(incident=incident, message=f"Note {index}")
    with django_assert_max_num_queries(9) as many:
        body = sre.get(f"{URL}{incident.pk}/").json()
    assert len(body["timeline"]) == body["timeline_count"] == 21 and body["timeline_truncated"] is False
    assert len(many.captured_queries) == len(few.captured_queries)


# --- Permissions -------------------------------------------------------------------------------------


def test_anonymous_requests_get_401(api_client: APIClient) -> None:
    assert api_client.get(URL).status_code == 401
    assert api_client.get("/api/v1/integrations/").status_code == 401


def test_an_outsider_gets_403(as_role: Callable[[str], APIClient]) -> None:
    incident = IncidentFactory.create()
    outsider = as_role("")
    assert outsider.get(URL).status_code == 403
    assert outsider.get(f"{URL}{incident.pk}/").status_code == 403
    assert outsider.post(f"{URL}{incident.pk}/acknowledge/").status_code == 403


def test_a_security_lead_reads_incidents_but_cannot_change_them(as_role: Callable[[str], APIClient]) -> None:
    incident = IncidentFactory.create()
    security = as_role(SECURITY_LEAD)
    assert security.get(f"{URL}{incident.pk}/").status_code == 200
    assert security.post(f"{URL}{incident.pk}/acknowledge/").status_code == 403
    assert security.post(f"{URL}{incident.pk}/note/", {"message": "hi"}).status_code == 403
    assert security.patch(f"{URL}{incident.pk}/", {"title": "x"}).status_code == 403
    assert security.post(URL, {"title": "x", "service": incident.service.slug, "severity": "SEV-3"}).status_code == 403
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.TRIGGERED


def test_a_tech_lead_works_on_incidents(as_role: Callable[[str], APIClient]) -> None:
    incident = IncidentFactory.create()
    tech = as_role(TECH_LEAD)
    response = tech.post(f"{URL}{incident.pk}/acknowledge/")
    assert response.status_code == 200
    assert response.json()["commander"] == "tech_lead"
    assert tech.post(f"{URL}{incident.pk}/resolve/").json()["status"] == "resolved"


# --- Integrations --------------------------------------------------------------------------------------

INTEGRATIONS = "/api/v1/integrations/"


def test_creating_an_integration_shows_its_token_once(sre: APIClient, checkout: Any) -> None:
    response = sre.post(
        INTEGRATIONS,
        {
            "name": "Prod Alertmanager",
            "kind": "alertmanager",
            "service": "checkout",
            "severity_mapping": {"page": "SEV-1"},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    token = body["token"]
    integration = Integration.objects.get()
    assert integration.token_hash == hash_token(token)
    assert body["token_prefix"] == token[:8] == integration.token_prefix
    assert body["uuid"] == str(integration.uuid)
    assert body["severity_mapping"] == {"page": "SEV-1"}
    # Where Alertmanager sends alerts: absolute, carrying the token.
    assert body["ingest_url"].startswith("http://testserver/api/v1/ingest/alertmanager/")
    assert token in body["ingest_url"]

    for readback in (sre.get(f"{INTEGRATIONS}{integration.uuid}/").json(), sre.get(INTEGRATIONS).json()["results"][0]):
        assert "token" not in readback and "ingest_url" not in readback
        assert token not in str(readback)
        assert readback["token_prefix"] == token[:8]


def test_rotating_the_token_replaces_it(sre: APIClient) -> None:
    integration = IntegrationFactory.create()
    old_hash = integration.token_hash
    response = sre.post(f"{INTEGRATIONS}{integration.uuid}/rotate-token/")
    assert response.status_code == 200
    token = response.json()["token"]
    integration.refresh_from_db()
    assert integration.token_hash == hash_token(token) != old_hash
    assert response.json()["token_prefix"] == token[:8]


def test_an_integration_is_changed_with_validation(sre: APIClient) -> None:
    integration = IntegrationFactory.create(name="Old")
    path = f"{INTEGRATIONS}{integration.uuid}/"
    response = sre.patch(path, {"name": "New", "enabled": False, "default_severity": "SEV-2"}, format="json")
    assert response.status_code == 200, response.json()
    integration.refresh_from_db()
    assert (integration.name, integration.enabled, integration.default_severity) == ("New", False, "SEV-2")
    assert "token" not in response.json()
    assert fields_of(sre.patch(path, {"severity_mapping": {"critical": "SEV-7"}}, format="json")) == {
        "severity_mapping"
    }
    assert fields_of(sre.patch(path, {"default_severity": "SEV-7"}, format="json")) == {"default_severity"}


def test_an_integration_is_deleted_unless_it_received_alerts(sre: APIClient) -> None:
    unused = IntegrationFactory.create()
    assert sre.delete(f"{INTEGRATIONS}{unused.uuid}/").status_code == 204
    assert not Integration.objects.filter(pk=unused.pk).exists()

    used = IntegrationFactory.create()
    RawEvent.objects.create(integration=used, dedup_key="k", action="trigger", payload={})
    assert fields_of(sre.delete(f"{INTEGRATIONS}{used.uuid}/")) == {"enabled"}
    assert Integration.objects.filter(pk=used.pk).exists()


@pytest.mark.parametrize("role", [SECURITY_LEAD, ""])
def test_roles_without_the_permission_cannot_manage_integrations(
    as_role: Callable[[str], APIClient], checkout: Any, role: str
) -> None:
    integration = IntegrationFactory.create(service=checkout)
    client = as_role(role)
    assert client.post(INTEGRATIONS, {"name": "x", "kind": "generic", "service": "checkout"}).status_code == 403
    assert client.post(f"{INTEGRATIONS}{integration.uuid}/rotate-token/").status_code == 403
    assert client.delete(f"{INTEGRATIONS}{integration.uuid}/").status_code == 403


# --- Schema -----------------------------------------------------------------------------------------


def test_the_openapi_schema_documents_incidents_and_integrations(sre: APIClient) -> None:
    paths = sre.get("/api/v1/schema/?format=json").json()["paths"]
    for action in ("acknowledge", "mitigate", "resolve", "reopen", "cancel", "note"):
        assert f"/api/v1/incidents/{{number}}/{action}/" in paths
    assert "/api/v1/integrations/{uuid}/rotate-token/" in paths
    parameters = {parameter["name"] for parameter in paths["/api/v1/incidents/"]["get"]["parameters"]}
    assert {
        "service",
        "severity",
        "status",
        "triggered_after",
        "triggered_before",
        "customer_impact",
        "q",
    } <= parameters
    assert "cursor" in parameters
