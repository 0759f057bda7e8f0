"""Quality gates API: personas, current status, evidence filters, history with "as of", waivers, OpenAPI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from opsgov.gates import services as gates_engine
from opsgov.models import GateEvaluation, GateStatus, GateWaiver
from opsgov.registry import gates
from opsgov.roles import ALL_ROLES, COMPLIANCE_OFFICER, DEVOPS_LEAD, SECURITY_LEAD, SRE_LEAD, TECH_LEAD

from .gate_support import KEY, NOW, ScriptedGate, World, row, script, scripted_gate, world

__all__ = ["scripted_gate", "world"]  # fixtures used by the tests below

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def evaluate(at: Any = NOW) -> GateEvaluation:
    return gates_engine.evaluate_gate(gate=gates.get(KEY), now=at)


@pytest.fixture
def failing(scripted_gate: type[ScriptedGate], world: World) -> World:
    script(
        GateStatus.FAIL,
        row(GateStatus.FAIL, "checkout", "escalation:checkout"),
        row(GateStatus.PASS, "search", "escalation:search"),
        row(GateStatus.AT_RISK, "", "response_targets"),
        reason="checkout lacks an escalation path",
    )
    evaluate()
    return world


# --- Personas ---------------------------------------------------------------------------------

READS = ["/api/v1/gates/", f"/api/v1/gates/{KEY}/", f"/api/v1/gates/{KEY}/history/", "/api/v1/gate-waivers/"]


@pytest.mark.parametrize("path", [*READS, f"/api/v1/gates/{KEY}/evaluate/"])
def test_anonymous_requests_get_401(failing: World, api_client: APIClient, path: str) -> None:
    method = api_client.post if path.endswith("evaluate/") else api_client.get
    assert method(path).status_code == 401


@pytest.mark.parametrize("role", [*ALL_ROLES, "outsider"])
def test_every_role_reads_gates_and_outsiders_get_403(
    failing: World, make_user: Callable[..., User], client_for: Callable[[User], APIClient], role: str
) -> None:
    user = make_user(f"reader-{role}".replace(" ", "-"), *([role] if role != "outsider" else []))
    client = client_for(user)
    for path in READS:
        assert client.get(path).status_code == (403 if role == "outsider" else 200), path


@pytest.mark.parametrize("role", [*ALL_ROLES, "outsider"])
def test_the_leads_and_the_compliance_officer_may_re_run_a_gate(
    failing: World, make_user: Callable[..., User], client_for: Callable[[User], APIClient], role: str
) -> None:
    user = make_user(f"runner-{role}".replace(" ", "-"), *([role] if role != "outsider" else []))
    response = client_for(user).post(f"/api/v1/gates/{KEY}/evaluate/")
    allowed = {SRE_LEAD, DEVOPS_LEAD, TECH_LEAD, SECURITY_LEAD, COMPLIANCE_OFFICER}
    assert response.status_code == (201 if role in allowed else 403)
    if role in allowed:
        assert response.json()["status"] == "fail" and response.json()["previous_status"] == "fail"


# --- Gates ------------------------------------------------------------------------------------


def test_the_list_gives_every_gate_with_its_current_status(
    failing: World, client_for: Callable[..., APIClient]
) -> None:
    body = client_for(failing.support).get("/api/v1/gates/").json()
    assert [item["key"] for item in body] == [gate.key for gate in gates.all()]
    scripted = next(item for item in body if item["key"] == KEY)
    assert scripted["status"] == "fail"
    assert scripted["reason"] == "checkout lacks an escalation path"
    assert scripted["counts"] == {"fail": 1, "at_risk": 1, "waived": 0, "passed": 1}
    assert scripted["owner_roles"] == [SRE_LEAD, TECH_LEAD] and scripted["approver_roles"] == [SRE_LEAD]
    assert scripted["evaluated_at"] == "2026-11-25T12:00:00+00:00"
    never = next(item for item in body if item["key"] == "monitoring")
    assert (never["status"], never["evaluated_at"], never["reason"]) == ("no_evidence", None, "Not evaluated yet.")


def test_the_detail_gives_the_evidence_filterable_by_service_and_team(
    failing: World, client_for: Callable[..., APIClient]
) -> None:
    client = client_for(failing.support)
    body = client.get(f"/api/v1/gates/{KEY}/").json()
    assert [(r["key"], r["status"], r["team"]) for r in body["evidence"]] == [
        ("escalation:checkout", "fail", "platform"),
        ("escalation:search", "pass", "discovery"),
        ("response_targets", "at_risk", ""),
    ]
    assert body["evidence"][0]["url"] == "/services/checkout/" and body["evidence"][0]["waiver"] is None
    by_service = client.get(f"/api/v1/gates/{KEY}/?service=search").json()
    assert [r["key"] for r in by_service["evidence"]] == ["escalation:search"]
    by_team = client.get(f"/api/v1/gates/{KEY}/?team=platform&status=fail").json()
    assert [r["key"] for r in by_team["evidence"]] == ["escalation:checkout"]


def test_an_unknown_filter_value_is_a_400_naming_the_field(
    failing: World, client_for: Callable[..., APIClient]
) -> None:
    response = client_for(failing.support).get(f"/api/v1/gates/{KEY}/?service=nope&status=great")
    assert response.status_code == 400
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"service", "status"}


def test_an_unknown_gate_is_404(failing: World, client_for: Callable[..., APIClient]) -> None:
    assert client_for(failing.support).get("/api/v1/gates/nope/").status_code == 404
    assert client_for(failing.support).get("/api/v1/gates/nope/history/").status_code == 404


def test_the_history_is_paginated_newest_first_and_at_gives_the_one_current_then(
    failing: World, client_for: Callable[..., APIClient]
) -> None:
    for hours, status in ((1, GateStatus.PASS), (2, GateStatus.PASS), (3, GateStatus.FAIL)):
        script(status, row(status, "checkout", "escalation:checkout"))
        evaluate(NOW + timedelta(hours=hours))
    client = client_for(failing.support)

    first = client.get(f"/api/v1/gates/{KEY}/history/?page_size=2").json()
    assert [item["evaluated_at"] for item in first["results"]] == ["2026-11-25T15:00:00Z", "2026-11-25T14:00:00Z"]
    second = client.get(first["next"]).json()
    assert [item["evaluated_at"] for item in second["results"]] == ["2026-11-25T13:00:00Z", "2026-11-25T12:00:00Z"]
    assert second["next"] is None

    then = client.get(f"/api/v1/gates/{KEY}/history/?at=2026-11-25T14:30:00Z").json()
    [current] = then["results"]
    assert (current["evaluated_at"], current["status"], current["status_changed"]) == (
        "2026-11-25T14:00:00Z",
        "pass",
        False,
    )
    assert current["evidence"][0]["key"] == "escalation:checkout"
    assert client.get(f"/api/v1/gates/{KEY}/history/?at=2026-01-01T00:00:00Z").json()["results"] == []

    changes = client.get(f"/api/v1/gates/{KEY}/history/?changes_only=true").json()
    assert [(item["previous_status"], item["status"]) for item in changes["results"]] == [
        ("pass", "fail"),
        ("fail", "pass"),
        ("", "fail"),
    ]


def test_a_bad_at_is_a_400_naming_the_field(failing: World, client_for: Callable[..., APIClient]) -> None:
    response = client_for(failing.support).get(f"/api/v1/gates/{KEY}/history/?at=yesterday")
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["at"]


def test_the_history_reads_a_fixed_number_of_queries(
    failing: World, client_for: Callable[..., APIClient], django_assert_max_num_queries: Any
) -> None:
    GateEvaluation.objects.bulk_create(
        GateEvaluation(gate=KEY, status="fail", reason=str(n), evaluated_at=NOW - timedelta(minutes=n + 1))
        for n in range(500)
    )
    client = client_for(failing.support)
    with django_assert_max_num_queries(6):  # token, user, permissions (2), page, services of the rows
        assert client.get(f"/api/v1/gates/{KEY}/history/").status_code == 200


# --- Waivers ----------------------------------------------------------------------------------


def waiver_body(world: World, **overrides: Any) -> dict[str, Any]:
    body = {
        "gate": KEY,
        "evidence_key": "escalation:checkout",
        "service": "checkout",
        "reason": "Vendor rota starts next month",
        "compensating_control": "Team lead carries the pager",
        "approver": "sre",
        "expires_at": "2026-12-20T12:00:00Z",
    }
    body.update(overrides)
    return body


def test_a_waiver_is_requested_approved_and_revoked_through_the_api(
    failing: World, client_for: Callable[..., APIClient]
) -> None:
    created = client_for(failing.tech).post("/api/v1/gate-waivers/", waiver_body(failing), format="json")
    assert created.status_code == 201, created.json()
    waiver = created.json()
    assert (waiver["state"], waiver["requested_by"], waiver["approver"]) == ("pending", "tech", "sre")

    refused = client_for(failing.sre2).post(f"/api/v1/gate-waivers/{waiver['id']}/approve/")
    assert refused.status_code == 403
    approved = client_for(failing.sre).post(f"/api/v1/gate-waivers/{waiver['id']}/approve/")
    assert approved.status_code == 200 and approved.json()["state"] == "active"
    detail = client_for(failing.support).get(f"/api/v1/gates/{KEY}/").json()
    assert detail["status"] == "at_risk"  # the failing row is waived; the at-risk global row still counts
    assert detail["evidence"][0]["status"] == "waived" and detail["evidence"][0]["waiver"]["id"] == waiver["id"]

    listed = client_for(failing.support).get("/api/v1/gate-waivers/?state=active&service=checkout").json()
    assert [item["id"] for item in listed["results"]] == [waiver["id"]]
    assert client_for(failing.support).get("/api/v1/gate-waivers/?state=pending").json()["results"] == []

    assert client_for(failing.support).post(f"/api/v1/gate-waivers/{waiver['id']}/revoke/").status_code == 403
    revoked = client_for(failing.tech).post(
        f"/api/v1/gate-waivers/{waiver['id']}/revoke/", {"reason": "Rota live"}, format="json"
    )
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert revoked.json()["revoked_by"] == "tech" and revoked.json()["revoke_reason"] == "Rota live"


def test_an_organisation_wide_check_is_waived_through_the_api(
    failing: World, client_for: Callable[..., APIClient]
) -> None:
    body = waiver_body(failing, evidence_key="response_targets")
    del body["service"]  # absent: organisation-wide
    created = client_for(failing.tech).post("/api/v1/gate-waivers/", body, format="json")
    assert created.status_code == 201, created.json()
    waiver = created.json()
    assert (waiver["evidence_key"], waiver["service"], waiver["state"]) == ("response_targets", None, "pending")
    reader = client_for(failing.support)
    rows = reader.get(f"/api/v1/gates/{KEY}/").json()["evidence"]
    assert (rows[2]["key"], rows[2]["status"], rows[2]["waiver"]) == ("response_targets", "at_risk", None)
    # A second open waiver of the same check (here with an explicit null) is refused, naming the field.
    again = client_for(failing.tech).post(
        "/api/v1/gate-waivers/",
        waiver_body(failing, evidence_key="response_targets", service=None, approver="sre2"),
        format="json",
    )
    assert again.status_code == 400
    message = "This organisation-wide check already has an open waiver; revoke it first."
    assert again.json()["errors"] == [{"field": "evidence_key", "message": message}]
    assert GateWaiver.objects.filter(service=None).count() == 1

    assert client_for(failing.sre).post(f"/api/v1/gate-waivers/{waiver['id']}/approve/").status_code == 200
    detail = reader.get(f"/api/v1/gates/{KEY}/").json()
    assert detail["status"] == "fail"  # checkout's failing row still counts
    assert (detail["evidence"][2]["status"], detail["evidence"][2]["waiver"]["id"]) == ("waived", waiver["id"])
    assert (detail["evidence"][2]["service"], detail["evidence"][2]["team"]) == ("", "")
    failing.waiver()  # checkout's row too: only waived problems are left
    assert reader.get(f"/api/v1/gates/{KEY}/").json()["status"] == "waived"

    assert reader.get(f"/api/v1/gate-waivers/{waiver['id']}/").json()["service"] is None
    org_only = reader.get("/api/v1/gate-waivers/?organisation_wide=true").json()["results"]
    assert [(item["id"], item["service"]) for item in org_only] == [(waiver["id"], None)]
    per_service = reader.get("/api/v1/gate-waivers/?organisation_wide=false").json()["results"]
    assert [item["service"] for item in per_service] == ["checkout"]
    of_checkout = reader.get("/api/v1/gate-waivers/?service=checkout").json()["results"]
    assert waiver["id"] not in [item["id"] for item in of_checkout]
    bad = reader.get("/api/v1/gate-waivers/?organisation_wide=maybe")
    assert bad.status_code == 400 and {error["field"] for error in bad.json()["errors"]} == {"organisation_wide"}


def test_an_invalid_waiver_is_a_400_with_field_paths(failing: World, client_for: Callable[..., APIClient]) -> None:
    response = client_for(failing.tech).post(
        "/api/v1/gate-waivers/",
        waiver_body(failing, approver="support", expires_at="2026-11-01T00:00:00Z", evidence_key="escalation:search"),
        format="json",
    )
    assert response.status_code == 400
    assert {error["field"] for error in response.json()["errors"]} == {"approver", "expires_at", "evidence_key"}
    self_approved = client_for(failing.sre).post("/api/v1/gate-waivers/", waiver_body(failing), format="json")
    assert self_approved.status_code == 400
    assert self_approved.json()["errors"] == [
        {"field": "approver", "message": "You cannot approve your own waiver; name another approver."}
    ]
    missing = client_for(failing.tech).post("/api/v1/gate-waivers/", {"gate": KEY}, format="json")
    assert {error["field"] for error in missing.json()["errors"]} >= {"expires_at", "approver", "reason"}
    assert not GateWaiver.objects.exists()


def test_an_outsider_cannot_request_a_waiver(
    failing: World, make_user: Callable[..., User], client_for: Callable[..., APIClient]
) -> None:
    response = client_for(make_user("outsider")).post("/api/v1/gate-waivers/", waiver_body(failing), format="json")
    assert response.status_code == 403


def test_waivers_cannot_be_changed_or_deleted_through_the_api(
    failing: World, client_for: Callable[..., APIClient]
) -> None:
    waiver = failing.waiver()
    client = client_for(failing.sre)
    assert client.patch(f"/api/v1/gate-waivers/{waiver.pk}/", {"reason": "x"}, format="json").status_code == 405
    assert client.delete(f"/api/v1/gate-waivers/{waiver.pk}/").status_code == 405  # evidence: never deleted
    assert GateWaiver.objects.filter(pk=waiver.pk, reason="Vendor rota starts next month").exists()


# --- OpenAPI ----------------------------------------------------------------------------------


def test_the_gate_endpoints_are_in_the_openapi_schema(failing: World, client_for: Callable[..., APIClient]) -> None:
    response = client_for(failing.support).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    for path in (
        "/api/v1/gates/",
        "/api/v1/gates/{key}/",
        "/api/v1/gates/{key}/history/",
        "/api/v1/gates/{key}/evaluate/",
        "/api/v1/gate-waivers/",
        "/api/v1/gate-waivers/{id}/approve/",
        "/api/v1/gate-waivers/{id}/revoke/",
    ):
        assert path in schema["paths"], path
    history = schema["paths"]["/api/v1/gates/{key}/history/"]["get"]
    assert {parameter["name"] for parameter in history["parameters"]} >= {"at", "changes_only", "cursor"}
    detail = schema["paths"]["/api/v1/gates/{key}/"]["get"]
    assert {parameter["name"] for parameter in detail["parameters"]} >= {"service", "team", "status", "q"}
    assert schema["components"]["schemas"]["GateStatusEnum"]["enum"] == GateStatus.values
    # A waiver's service: optional and nullable in a request (organisation-wide), nullable in an answer.
    components = schema["components"]["schemas"]
    request_body, answer = components["GateWaiverRequest"], components["GateWaiver"]
    assert request_body["properties"]["service"]["nullable"] is True and "service" not in request_body["required"]
    assert answer["properties"]["service"]["nullable"] is True
    listing = schema["paths"]["/api/v1/gate-waivers/"]["get"]
    (organisation_wide,) = [p for p in listing["parameters"] if p["name"] == "organisation_wide"]
    assert organisation_wide["schema"]["type"] == "boolean"
