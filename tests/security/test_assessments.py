"""Security assessments: their findings join the findings list (source column/filter), on the same SLA,
untouched by scan imports, with a status set by hand; the API."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from opsgov.roles import COMPLIANCE_OFFICER, SECURITY_LEAD, SRE_LEAD
from security import assessments, services
from security.models import Finding, FindingStatus
from security.selectors import overdue
from tests.factories import ServiceFactory

from .support import trivy

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


@pytest.fixture
def pentest(make_user: Any) -> Any:
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    asset = services.resolve_asset(name="img", create=True, service=service)
    return assessments.create_assessment(
        kind="pentest",
        title="Checkout pentest 2026",
        asset=asset,
        performed_by="Acme Security",
        started_on=date(2026, 2, 1),
    )


def test_an_assessment_finding_is_a_finding_on_the_sla_clock(pentest: Any) -> None:
    item = assessments.record_finding(
        assessment=pentest, reference="PT-3", title="IDOR on /orders", severity="critical", now=NOW
    )
    finding = item.finding
    assert (finding.source, finding.vulnerability_id, finding.status) == (
        "assessment",
        f"PENTEST-{pentest.pk}-PT-3",
        "open",
    )
    assert finding.due_at == NOW + timedelta(hours=48)  # the policy's critical SLA
    assert list(overdue(Finding.objects.all(), NOW + timedelta(hours=49))) == [finding]
    with pytest.raises(ValidationError):
        assessments.record_finding(assessment=pentest, reference="PT-3", title="again", severity="low", now=NOW)


def test_scan_imports_never_close_assessment_findings(pentest: Any) -> None:
    item = assessments.record_finding(
        assessment=pentest, reference="PT-1", title="Weak TLS", severity="medium", now=NOW
    )
    services.import_scan(report=trivy("app", [("CVE-2024-1", "xz", "1", "HIGH")]), asset_name="img", now=NOW)
    services.import_scan(report=trivy("app", []), asset_name="img", now=NOW + timedelta(hours=1))
    item.finding.refresh_from_db()
    assert item.finding.status == FindingStatus.OPEN
    assert Finding.objects.get(vulnerability_id="CVE-2024-1").status == FindingStatus.FIXED


def test_status_by_hand(pentest: Any) -> None:
    item = assessments.record_finding(assessment=pentest, reference="PT-2", title="XSS", severity="high", now=NOW)
    with pytest.raises(ValidationError) as caught:
        assessments.set_status(item=item, status="not_applicable")
    assert caught.value.message_dict == {"justification": ["say why it does not apply"]}
    fixed = assessments.set_status(item=item, status="fixed", now=NOW + timedelta(days=1))
    assert (fixed.status, fixed.fixed_at) == ("fixed", NOW + timedelta(days=1))
    reopened = assessments.set_status(item=item, status="open", now=NOW + timedelta(days=2))
    assert (reopened.reopen_count, reopened.fixed_at, reopened.due_at) == (1, None, NOW + timedelta(days=9))


def test_api_and_one_findings_list(pentest: Any, client_for: Any, make_user: Any, client: Any) -> None:
    lead, officer = make_user("lead", SECURITY_LEAD), make_user("officer", COMPLIANCE_OFFICER)
    api = client_for(lead)
    url = f"/api/v1/security/assessments/{pentest.pk}/findings/"
    body = {"reference": "PT-9", "title": "SSRF", "severity": "high", "owner": "lead"}
    created = api.post(url, data=json.dumps(body), content_type="application/json")
    assert created.status_code == 201, created.json()
    assert created.json()["finding"]["source"] == "assessment"
    bad = api.post(url, data=json.dumps({**body, "severity": "urgent"}), content_type="application/json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "severity"
    services.import_scan(report=trivy("app", [("CVE-2024-1", "xz", "1", "HIGH")]), asset_name="img", now=NOW)
    listed = api.get("/api/v1/security/findings/?source=assessment").json()["results"]
    assert [row["title"] for row in listed] == ["SSRF"]
    assert len(api.get("/api/v1/security/findings/").json()["results"]) == 2
    reader = client_for(officer)
    assert reader.get("/api/v1/security/assessments/").status_code == 200
    assert reader.post(url, data=json.dumps(body), content_type="application/json").status_code == 403
    assert (
        client_for(make_user("sre", SRE_LEAD))
        .post(
            "/api/v1/security/assessments/",
            data=json.dumps(
                {"kind": "review", "title": "x", "asset": "img", "performed_by": "me", "started_on": "2026-01-01"}
            ),
            content_type="application/json",
        )
        .status_code
        == 403
    )
    item_id = created.json()["id"]
    status = api.post(
        f"/api/v1/security/assessment-findings/{item_id}/status/",
        data=json.dumps({"status": "fixed"}),
        content_type="application/json",
    )
    assert status.status_code == 200 and status.json()["finding"]["status"] == "fixed"
    client.force_login(officer)
    page = client.get("/security/findings/?source=assessment")
    assert page.status_code == 200 and f"PENTEST-{pentest.pk}-PT-9".encode() in page.content
    assert b"CVE-2024-1" not in page.content
    assert b"Assessment" in page.content
    assert client.get("/security/assessments/").status_code == 200
