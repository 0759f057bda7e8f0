"""The compliance API: role permissions, import with path errors, findings' steps, no delete."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from compliance import services
from compliance.models import Control, EvidenceBinding, Framework
from opsgov.models import GateEvaluation, GateStatus
from opsgov.roles import SRE_LEAD

pytestmark = pytest.mark.django_db


def test_the_officer_imports_through_the_api_and_others_may_not(
    officer: User, client_for: Callable[[User], APIClient], make_user: Callable[..., User], catalog_bytes: bytes
) -> None:
    api = client_for(officer)
    body = {"filename": "catalog.json", "content": catalog_bytes.decode()}
    first = api.post("/api/v1/compliance/frameworks/import/", body, format="json")
    assert first.status_code == 201 and first.json()["requirements"] == 7
    again = api.post("/api/v1/compliance/frameworks/import/", body, format="json")
    assert again.status_code == 200 and again.json()["created"] is False
    bad = api.post(
        "/api/v1/compliance/frameworks/import/",
        {
            "filename": "c.json",
            "content": catalog_bytes.decode().replace('"bk-2"', '"bk 2"', 1).replace('"1.0"', '"1.1"', 1),
        },
        format="json",
    )
    assert bad.status_code == 400
    assert any("catalog.groups[0].controls[1].id" in error["message"] for error in bad.json()["errors"])
    assert Framework.objects.count() == 1
    sre = client_for(make_user("sre", SRE_LEAD))
    assert sre.get("/api/v1/compliance/frameworks/").status_code == 200
    assert sre.post("/api/v1/compliance/frameworks/import/", body, format="json").status_code == 403
    assert api.delete(f"/api/v1/compliance/frameworks/{first.json()['framework']['id']}/").status_code == 405


def test_a_control_shows_its_live_evidence(officer: User, client_for: Callable[[User], APIClient]) -> None:
    control = Control.objects.create(ref_id="BK-1", title="Backups verified")
    EvidenceBinding.objects.create(control=control, provider="gate", scope="backup_dr")
    GateEvaluation.objects.create(
        gate="backup_dr", status=GateStatus.PASS, reason="ok", evaluated_at=timezone.now() - timedelta(hours=1)
    )
    data = client_for(officer).get(f"/api/v1/compliance/controls/{control.pk}/").json()
    assert data["evidence_current"] is True
    assert data["live_evidence"][0]["state"] == "current" and data["live_evidence"][0]["link"] == "/gates/backup_dr/"


def test_findings_advance_with_four_eyes(
    officer: User, second_officer: User, client_for: Callable[[User], APIClient]
) -> None:
    finding = services.finding_record(title="Gap", severity="medium")
    services.remediation_step_add(finding=finding, description="Fix", owner=officer, due_on=timezone.now().date())
    api = client_for(officer)
    for step in ("planned", "in_progress", "remediated"):
        assert (
            api.post(f"/api/v1/compliance/findings/{finding.pk}/advance/", {"status": step}, format="json").status_code
            == 200
        )
    assert (
        api.post(
            f"/api/v1/compliance/findings/{finding.pk}/advance/", {"status": "verified"}, format="json"
        ).status_code
        == 403
    )
    other = client_for(second_officer)
    answer = other.post(f"/api/v1/compliance/findings/{finding.pk}/advance/", {"status": "verified"}, format="json")
    assert answer.status_code == 200 and answer.json()["status"] == "verified"
    skip = other.post(f"/api/v1/compliance/findings/{finding.pk}/advance/", {"status": "planned"}, format="json")
    assert skip.status_code == 400
