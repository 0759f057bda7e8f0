"""The security API: scan import (201 / unchanged 200 / 400 with the formats tried), lists, role permissions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from django.utils.timezone import override as zoneinfo_override
from rest_framework import serializers

from opsgov.roles import COMPLIANCE_OFFICER, DEVOPS_LEAD, SECURITY_LEAD, SRE_LEAD
from security.api.serializers import FindingSerializer
from security.models import Finding, RiskAcceptance
from security.selectors import finding_list
from tests.factories import ServiceFactory

from .support import fixture

pytestmark = pytest.mark.django_db
URL = "/api/v1/security/scans/"


def _post(client: Any, report: Any, query: str = "?asset=app&create_asset=true") -> Any:
    return client.post(URL + query, data=json.dumps(report), content_type="application/json")


def test_import_then_reimport_unchanged(client_for: Any, personas: dict[str, Any]) -> None:
    client = client_for(personas[SRE_LEAD])
    first = _post(client, fixture("trivy-image-v2.json"))
    assert first.status_code == 201, first.json()
    assert first.json()["created"] is True
    assert first.json()["scan"]["findings_seen"] == 4
    again = _post(client, fixture("trivy-image-v2.json"))
    assert again.status_code == 200
    assert (again.json()["created"], again.json()["scan"]["id"]) == (False, first.json()["scan"]["id"])
    query = "?asset=legacy&create_asset=true&report_format=trivy-legacy"
    legacy = _post(client, fixture("trivy-legacy-list.json"), query)
    assert legacy.status_code == 201
    assert legacy.json()["scan"]["format"] == "trivy-legacy"


def test_a_report_of_no_format_lists_each_format_and_why(client_for: Any, personas: dict[str, Any]) -> None:
    response = _post(client_for(personas[SECURITY_LEAD]), {"SchemaVersion": 2, "Results": [{"Target": 7}]})
    assert response.status_code == 400
    messages = [error["message"] for error in response.json()["errors"] if error["field"] == "report"]
    assert messages[0] == "trivy: $.Results[0].Target: expected a non-empty string, got a number"
    assert [message.split(":")[0] for message in messages] == [
        "trivy",
        "trivy-legacy",
        "grype",
        "pip-audit",
        "osv-scanner",
        "cyclonedx",
        "dependabot",
    ]
    assert not Finding.objects.exists()


def test_unknown_asset_without_rule_is_refused_with_the_rule_to_add(client_for: Any, personas: dict[str, Any]) -> None:
    response = _post(client_for(personas[SECURITY_LEAD]), fixture("grype.json"), "")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == "asset"
    assert "registry.acme.test/checkout:1.4.2" in error["message"] and "asset-rules" in error["message"]
    rule = client_for(personas[SECURITY_LEAD]).post(
        "/api/v1/security/asset-rules/",
        {"pattern": "registry.acme.test/checkout:*", "service": ServiceFactory.create(slug="checkout").slug},
        format="json",
    )
    assert rule.status_code == 201, rule.json()
    assert _post(client_for(personas[SECURITY_LEAD]), fixture("grype.json"), "").status_code == 201


def test_bad_query_parameters_are_400(client_for: Any, personas: dict[str, Any]) -> None:
    response = _post(client_for(personas[SECURITY_LEAD]), fixture("grype.json"), "?report_format=nessus")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "report_format"


def test_roles(client_for: Any, personas: dict[str, Any]) -> None:
    assert _post(client_for(personas[COMPLIANCE_OFFICER]), fixture("grype.json")).status_code == 403
    assert _post(client_for(personas[DEVOPS_LEAD]), fixture("grype.json")).status_code == 201
    assert client_for(personas[COMPLIANCE_OFFICER]).get("/api/v1/security/findings/").status_code == 200
    assert client_for(personas["outsider"]).get("/api/v1/security/findings/").status_code == 403


def test_findings_filters_and_the_inventory_search(client_for: Any, personas: dict[str, Any]) -> None:
    client = client_for(personas[SECURITY_LEAD])
    _post(client, fixture("trivy-image-v2.json"))
    _post(client, fixture("cyclonedx-1.6-vex.json"), "?asset=checkout&create_asset=true")
    criticals = client.get("/api/v1/security/findings/?severity=critical").json()
    assert sorted(row["vulnerability_id"] for row in criticals["results"]) == ["CVE-2023-45853", "CVE-2024-3094"]
    assert criticals["results"][0]["overdue"] is False
    assert client.get("/api/v1/security/findings/?overdue=true").json()["results"] == []
    na = client.get("/api/v1/security/findings/?status=not_applicable").json()["results"]
    assert [row["asset"] for row in na] == ["checkout"]
    hits = client.get("/api/v1/security/components/?name=Django&version=4.2.10").json()["results"]
    assert [row["asset"] for row in hits] == ["checkout"]


def test_risk_acceptance_api_four_eyes(client_for: Any, make_user: Any, personas: dict[str, Any]) -> None:
    sre, lead = personas[SRE_LEAD], personas[SECURITY_LEAD]
    _post(client_for(sre), fixture("trivy-image-v2.json"))
    finding = Finding.objects.get(vulnerability_id="CVE-2024-3094")
    body = {
        "finding": finding.pk,
        "reason": "no fixed image yet",
        "compensating_control": "network policy",
        "approver": lead.username,
        "expires_at": (timezone.now() + timedelta(days=30)).isoformat(),
    }
    created = client_for(sre).post("/api/v1/security/risk-acceptances/", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["state"] == "pending"
    pk = created.json()["id"]
    assert client_for(sre).post(f"/api/v1/security/risk-acceptances/{pk}/approve/").status_code == 403
    approved = client_for(lead).post(f"/api/v1/security/risk-acceptances/{pk}/approve/")
    assert (approved.status_code, approved.json()["state"]) == (200, "active")
    too_long = body | {"expires_at": (timezone.now() + timedelta(days=400)).isoformat()}
    refused = client_for(sre).post("/api/v1/security/risk-acceptances/", too_long, format="json")
    assert refused.status_code == 400


def test_a_findings_page_shows_what_drfs_field_by_field_representation_shows(
    client_for: Any, personas: dict[str, Any], django_assert_num_queries: Any
) -> None:
    """The finding serializer writes its fields out by hand (speed); every value must be DRF's own."""
    lead, sre = personas[SECURITY_LEAD], personas[SRE_LEAD]
    _post(client_for(sre), fixture("trivy-image-v2.json"))
    _post(client_for(sre), fixture("cyclonedx-1.6-vex.json"), "?asset=checkout&create_asset=true")
    findings = Finding.objects.order_by("id")
    assert findings.count() >= 5
    now = timezone.now()
    first, second, third = findings[:3]
    first.asset.service = ServiceFactory.create(slug="checkout")
    first.asset.save()
    Finding.objects.filter(pk=first.pk).update(owner=sre, published_at=datetime(2026, 1, 15, 9, 30, tzinfo=UTC))
    fixed_late = {"status": "fixed", "fixed_at": now, "due_at": now - timedelta(hours=1), "reopened_at": now}
    Finding.objects.filter(pk=second.pk).update(**fixed_late)
    RiskAcceptance.objects.create(
        finding=third,
        reason="r",
        compensating_control="c",
        requested_by=sre,
        approver=lead,
        approved_at=now,
        expires_at=now + timedelta(days=30),
    )
    client = client_for(lead)
    client.get("/api/v1/security/findings/")  # the token's first use is recorded once
    # the token (2), the role permissions (2), the page (one query: nothing deferred is read later)
    with zoneinfo_override("Europe/Berlin"), django_assert_num_queries(5):
        rows = client.get("/api/v1/security/findings/").json()["results"]
    by_id = {row["id"]: row for row in rows}
    assert len(by_id) == findings.count()
    with zoneinfo_override("Europe/Berlin"):
        for finding in finding_list(timezone.now()):
            serializer = FindingSerializer(context={"now": timezone.now()})
            expected = serializers.ModelSerializer.to_representation(serializer, finding)
            assert by_id[finding.pk] == json.loads(json.dumps(expected)), finding.vulnerability_id
    assert by_id[first.pk]["service"] == "checkout" and by_id[first.pk]["owner"] == sre.username
    assert by_id[first.pk]["published_at"] == "2026-01-15T10:30:00+01:00"  # in the current time zone, as DRF writes it
    assert by_id[second.pk]["overdue"] is True and by_id[third.pk]["accepted"] is True
