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

from .support import make_job

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
    Client().get(f"/ping/{job.uuid}/0")
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
