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


def test_oscal_assessment_results_import_through_the_api_and_the_admin(
    officer: User,
    client_for: Callable[[User], APIClient],
    make_user: Callable[..., User],
    catalog_bytes: bytes,
    results_bytes: bytes,
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from compliance.importers import import_oscal_catalog
    from compliance.models import Finding, Requirement

    framework = import_oscal_catalog(catalog_bytes).framework
    control = Control.objects.create(ref_id="OPS-BK", title="Restores tested")
    control.requirements.add(Requirement.objects.get(framework=framework, ref_id="bk-1"))
    api = client_for(officer)
    # Bad input: the path in the document is named, nothing is imported.
    broken = results_bytes.decode().replace('"not-satisfied"', '"half-satisfied"')
    bad = api.post("/api/v1/compliance/findings/import-oscal/", {"content": broken}, format="json")
    assert bad.status_code == 400
    assert any(
        "assessment-results.results[0].findings[0].target.status.state" in error["message"]
        for error in bad.json()["errors"]
    ), bad.json()
    assert Finding.objects.count() == 0
    first = api.post("/api/v1/compliance/findings/import-oscal/", {"content": results_bytes.decode()}, format="json")
    assert first.status_code == 201 and (first.json()["created"], first.json()["unchanged"]) == (1, 0)
    [finding] = first.json()["findings"]
    # The target bk-1.1_obj is an objective of bk-1, which OPS-BK is mapped to; due by the medium SLA.
    assert (finding["title"], finding["control"], finding["severity"]) == ("Restore test overdue", control.pk, "medium")
    again = api.post("/api/v1/compliance/findings/import-oscal/", {"content": results_bytes.decode()}, format="json")
    assert again.status_code == 200 and (again.json()["created"], again.json()["unchanged"]) == (0, 1)
    unknown = api.post("/api/v1/compliance/findings/import-oscal/", {"content": "{}", "x": 1}, format="json")
    assert unknown.status_code == 400
    sre = client_for(make_user("sre", SRE_LEAD))
    assert sre.post("/api/v1/compliance/findings/import-oscal/", {"content": "{}"}, format="json").status_code == 403
    # The admin's upload: the same rules, the path of a problem shown on the form.
    User.objects.filter(pk=officer.pk).update(is_staff=True)
    browser = Client()
    browser.force_login(officer)
    url = "/admin/compliance/finding/import-oscal/"
    assert "Import OSCAL assessment results" in browser.get("/admin/compliance/finding/").content.decode()
    shown = browser.post(url, {"document": SimpleUploadedFile("r.json", broken.encode())}).content.decode()
    assert "assessment-results.results[0].findings[0].target.status.state" in shown
    done = browser.post(url, {"document": SimpleUploadedFile("r.json", results_bytes)}, follow=True).content.decode()
    assert "Imported 0 finding(s); 1 imported before, unchanged." in done
    assert Finding.objects.count() == 1


def test_the_regulatory_register_through_the_api(
    officer: User, client_for: Callable[[User], APIClient], make_user: Callable[..., User]
) -> None:
    control = Control.objects.create(ref_id="IR-1", title="Incident reporting")
    api = client_for(officer)
    base = "/api/v1/compliance/regulatory-changes/"
    body = {"title": "Resilience act", "source": "EU OJ", "summary": "Report in 24 h.", "effective_date": "2027-01-17"}
    created = api.post(base, body, format="json")
    assert created.status_code == 201 and created.json()["status"] == "new"
    change_id = created.json()["id"]
    assert api.post(base, {**body, "effective_date": "soon"}, format="json").json()["errors"][0]["field"] == (
        "effective_date"
    )
    assessed = api.post(
        f"{base}{change_id}/assess/",
        {"impact_assessment": "Runbook and on-call change.", "affected_controls": [control.pk]},
        format="json",
    )
    assert assessed.status_code == 200
    assert (assessed.json()["status"], assessed.json()["affected_controls"]) == ("assessed", [control.pk])
    task = api.post(
        f"{base}{change_id}/tasks/",
        {"description": "Update the runbook", "owner": officer.pk, "due_on": "2026-12-31"},
        format="json",
    )
    assert task.status_code == 201
    early = api.post(f"{base}{change_id}/status/", {"status": "implemented"}, format="json")
    assert early.status_code == 400 and "Finish its tasks first" in early.json()["errors"][0]["message"]
    done = api.post(f"/api/v1/compliance/regulatory-tasks/{task.json()['id']}/complete/", format="json")
    assert done.status_code == 200 and done.json()["done_at"] is not None
    implemented = api.post(f"{base}{change_id}/status/", {"status": "implemented"}, format="json")
    assert implemented.status_code == 200 and implemented.json()["status"] == "implemented"
    sre = client_for(make_user("sre", SRE_LEAD))
    assert sre.get(base).status_code == 200
    assert sre.post(base, body, format="json").status_code == 403
    assert sre.post(f"{base}{change_id}/assess/", {"impact_assessment": "x"}, format="json").status_code == 403
