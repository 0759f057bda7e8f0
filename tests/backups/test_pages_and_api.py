"""Pages (overview matrix, job detail with its run chart and checks, restore tests, drills, plans), the
restore-test and drill API, the drill's Markdown export and the admin's CSV export."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from backups.models import DRDrill, DRPlan, RestoreTest
from opsgov.roles import COMPLIANCE_OFFICER, SECURITY_LEAD, SRE_LEAD

from .support import PingClient, make_job

pytestmark = pytest.mark.django_db


def _login(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_pages_render_for_readers_and_not_for_outsiders(personas: dict[str, Any]) -> None:
    job = make_job(repository="/var/backups/db")
    client = _login(personas[COMPLIANCE_OFFICER])
    overview = client.get("/backups/")
    assert overview.status_code == 200
    assert job.service.name in overview.content.decode()
    assert "No job" in overview.content.decode()  # the other data types the policy asks of the service
    assert "Failing" in overview.content.decode()
    detail = client.get(f"/backups/jobs/{job.pk}/")
    assert detail.status_code == 200
    body = detail.content.decode()
    assert "Fresh (RPO)" in body and "No successful run recorded." in body
    assert str(job.uuid) in body
    for path in ("/backups/jobs/", "/backups/restore-tests/", "/backups/drills/", "/backups/plans/"):
        assert client.get(path).status_code == 200, path
    assert _login(personas["outsider"]).get("/backups/").status_code == 403


def test_restore_tests_through_the_api_measure_rto_and_rpo(
    personas: dict[str, Any], client_for: Callable[..., Any]
) -> None:
    job = make_job()
    client = client_for(personas[SRE_LEAD])
    response = client.post(
        "/api/v1/backups/restore-tests/",
        {
            "job": job.pk,
            "target": "staging",
            "result": "passed",
            "started_at": "2026-11-20T10:00:00Z",
            "verified_at": "2026-11-20T11:30:00+01:00",  # 10:30 UTC
            "data_taken_at": "2026-11-20T09:20:00Z",
            "verification": "row counts match",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["rto_seconds"], body["rpo_seconds"], body["rto_target_seconds"]) == (1800, 2400, 14400)
    assert body["rpo_target_seconds"] == 3600  # the database frequency
    assert body["met_targets"] is True
    naive = client.post(
        "/api/v1/backups/restore-tests/",
        {
            "job": job.pk,
            "target": "x",
            "result": "passed",
            "started_at": "2026-11-20T10:00:00",
            "verified_at": "2026-11-20T11:00:00Z",
        },
        format="json",
    )
    assert naive.status_code == 400
    assert naive.json()["errors"][0]["field"] == "started_at"
    assert client_for(personas[SECURITY_LEAD]).get("/api/v1/backups/restore-tests/").json()["count"] == 1
    assert RestoreTest.objects.count() == 1


def test_a_drill_through_the_api_exports_as_markdown(personas: dict[str, Any], client_for: Callable[..., Any]) -> None:
    job = make_job()
    client = client_for(personas[SRE_LEAD])
    response = client.post(
        "/api/v1/backups/drills/",
        {
            "service": job.service.slug,
            "scenario": "Region loss",
            "held_at": "2026-10-01T09:00:00Z",
            "participants": [{"role": "SRE Lead", "name": "Ana"}],
            "timeline": [{"at": "09:00", "what": "Declared"}],
            "rto_target_seconds": 14400,
            "rpo_target_seconds": 3600,
            "rto_achieved_seconds": 18000,
            "rpo_achieved_seconds": 600,
            "issues": ["Failover DNS TTL too long"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["met_targets"] is False
    drill = DRDrill.objects.get()
    markdown = _login(personas[COMPLIANCE_OFFICER]).get(f"/backups/drills/{drill.pk}/report.md")
    assert markdown["Content-Type"].startswith("text/markdown")
    text = markdown.content.decode()
    assert "# DR drill: Region loss" in text
    assert "- RTO: 300 min (target 240 min)" in text
    assert "- SRE Lead: Ana" in text
    assert "- Failover DNS TTL too long" in text


def test_the_admin_exports_runs_as_csv_for_compliance_officers(personas: dict[str, Any]) -> None:
    job = make_job()
    PingClient().get(f"/ping/{job.uuid}/0")
    officer = personas[COMPLIANCE_OFFICER]
    officer.is_staff = True
    officer.save()
    client = _login(officer)
    response = client.post(
        "/admin/backups/backuprun/",
        {"action": "export_csv", "_selected_action": [str(run.pk) for run in job.runs.all()]},
    )
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()  # type: ignore[attr-defined]
    assert lines[0].startswith("id,job,status,source,slot")
    assert ",succeeded,ping," in lines[1]
    assert client.get(f"/admin/backups/backuprun/{job.runs.get().pk}/change/").status_code == 200  # view only
    assert datetime.now(UTC) - timedelta(days=1) < job.runs.get().recorded_at


def test_a_dr_plan_renders_sanitised_markdown(personas: dict[str, Any]) -> None:
    job = make_job()
    plan = DRPlan.objects.create(
        service=job.service,
        body="# Fail over\n\n1. Restore <script>alert(1)</script>\n\n[runbook](javascript:alert(1)) [ok](https://x.example)",
    )
    body = _login(personas[COMPLIANCE_OFFICER]).get(f"/backups/plans/{plan.pk}/").content.decode()
    assert "<h1>Fail over</h1>" in body
    assert "<script>alert(1)</script>" not in body
    assert "javascript:" not in body
    assert 'href="https://x.example"' in body


def test_a_second_dr_plan_for_a_service_is_a_400(personas: dict[str, Any], client_for: Callable[..., Any]) -> None:
    job = make_job()
    client = client_for(personas[SRE_LEAD])
    first = client.post("/api/v1/backups/plans/", {"service": job.service.slug, "body": "# Plan"}, format="json")
    assert first.status_code == 201, first.content
    second = client.post("/api/v1/backups/plans/", {"service": job.service.slug, "body": "# Again"}, format="json")
    assert second.status_code == 400
    assert second.json()["errors"][0]["field"] == "service"
    assert DRPlan.objects.count() == 1


DRILL = {
    "scenario": "Region loss",
    "held_at": "2026-10-01T09:00:00Z",
    "rto_target_seconds": 14400,
    "rpo_target_seconds": 3600,
    "rto_achieved_seconds": 7200,
    "rpo_achieved_seconds": 600,
}


def test_drill_approvals_by_role_never_by_the_owner_once_per_kind_audited_and_shown(
    personas: dict[str, Any], client_for: Callable[..., Any], make_user: Callable[..., Any]
) -> None:
    from auditlog.models import LogEntry

    from backups.models import DRDrillApproval

    job = make_job()
    lead = personas[SRE_LEAD]
    # An owner of null, like none, means the caller.
    created = client_for(lead).post(
        "/api/v1/backups/drills/", {**DRILL, "service": job.service.slug, "owner": None}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["owner"] == lead.username and created.json()["validated"] is False
    drill_id = created.json()["id"]
    url = f"/api/v1/backups/drills/{drill_id}/approvals/"

    # A DevOps Lead writes drills but validates neither; a caller without a role is refused outright.
    assert client_for(personas["DevOps Lead"]).post(url, {"kind": "compliance"}, format="json").status_code == 403
    assert client_for(personas["outsider"]).post(url, {"kind": "compliance"}, format="json").status_code == 403
    # The Security Lead validates data protection, not compliance.
    security = client_for(personas[SECURITY_LEAD])
    wrong = security.post(url, {"kind": "compliance"}, format="json")
    assert wrong.status_code == 403 and "Compliance Officer" in wrong.json()["detail"]
    bad = security.post(url, {"kind": "integrity"}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "kind"
    unknown_field = security.post(url, {"kind": "data_protection", "approver": "me"}, format="json")
    assert unknown_field.status_code == 400
    ok = security.post(url, {"kind": "data_protection", "note": "Keys from the vault"}, format="json")
    assert ok.status_code == 201, ok.content
    assert ok.json()["role"] == SECURITY_LEAD and ok.json()["approver"] == personas[SECURITY_LEAD].username
    again = security.post(url, {"kind": "data_protection"}, format="json")
    assert again.status_code == 400 and again.json()["errors"][0]["field"] == "kind"

    # The owner may not validate their own drill, even holding the role.
    officer_owner = make_user("officer-owner", SRE_LEAD, COMPLIANCE_OFFICER)
    owned = client_for(officer_owner).post(
        "/api/v1/backups/drills/", {**DRILL, "service": job.service.slug}, format="json"
    )
    assert owned.status_code == 201
    own = client_for(officer_owner).post(
        f"/api/v1/backups/drills/{owned.json()['id']}/approvals/", {"kind": "compliance"}, format="json"
    )
    assert own.status_code == 403 and "owner" in own.json()["detail"]

    done = client_for(personas[COMPLIANCE_OFFICER]).post(url, {"kind": "compliance"}, format="json")
    assert done.status_code == 201
    drill = client_for(lead).get(f"/api/v1/backups/drills/{drill_id}/").json()
    assert drill["validated"] is True
    assert sorted(a["kind"] for a in drill["approvals"]) == ["compliance", "data_protection"]

    approval = DRDrillApproval.objects.get(drill_id=drill_id, kind="data_protection")
    entry = LogEntry.objects.get_for_object(approval).get()
    assert entry.action == LogEntry.Action.CREATE and entry.actor == personas[SECURITY_LEAD]

    page = _login(personas[COMPLIANCE_OFFICER]).get("/backups/drills/").content.decode()
    assert f"validated</span> by {personas[SECURITY_LEAD].username} (Security Lead)" in page
    assert "Keys from the vault" in page and "awaiting" in page  # the owner's own drill awaits both
    markdown = _login(lead).get(f"/backups/drills/{drill_id}/report.md").content.decode()
    assert f"- Owner (SRE Lead): {lead.username}" in markdown
    assert f"- Data protection (Security Lead): {personas[SECURITY_LEAD].username} (Security Lead), " in markdown


def test_a_drill_owner_must_hold_the_sre_lead_role(personas: dict[str, Any], client_for: Callable[..., Any]) -> None:
    job = make_job()
    devops = client_for(personas["DevOps Lead"])
    unnamed = devops.post("/api/v1/backups/drills/", {**DRILL, "service": job.service.slug}, format="json")
    assert unnamed.status_code == 400 and unnamed.json()["errors"][0]["field"] == "owner"
    named = devops.post(
        "/api/v1/backups/drills/",
        {**DRILL, "service": job.service.slug, "owner": personas[SECURITY_LEAD].username},
        format="json",
    )
    assert named.status_code == 400 and named.json()["errors"][0]["field"] == "owner"
    fine = devops.post(
        "/api/v1/backups/drills/",
        {**DRILL, "service": job.service.slug, "owner": personas[SRE_LEAD].username},
        format="json",
    )
    assert fine.status_code == 201 and fine.json()["owner"] == personas[SRE_LEAD].username


def test_the_admin_shows_drill_approvals_read_only(personas: dict[str, Any]) -> None:
    from backups import services

    job = make_job()
    drill = services.record_drill(
        drill=DRDrill(
            service=job.service,
            owner=personas[SRE_LEAD],
            scenario="Region loss",
            held_at=datetime(2026, 10, 1, 9, tzinfo=UTC),
            rto_target_seconds=3600,
            rpo_target_seconds=3600,
        )
    )
    services.drill_approve(drill=drill, kind="compliance", actor=personas[COMPLIANCE_OFFICER], note="Filed")
    officer = personas[COMPLIANCE_OFFICER]
    officer.is_staff = True
    officer.save()
    client = _login(officer)
    listing = client.get("/admin/backups/drdrill/").content.decode()
    assert f"Compliance: {officer.username}" in listing and "Data protection: awaiting" in listing
    change = client.get(f"/admin/backups/drdrill/{drill.pk}/change/")
    assert change.status_code == 200 and "Filed" in change.content.decode()
    assert client.get("/admin/backups/drdrillapproval/add/").status_code == 403
