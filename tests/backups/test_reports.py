"""Reports in: POST /api/v1/backups/jobs/<id>/reports/ and manage.py import_backup_report; idempotent,
all-or-nothing, 400 naming the line or field; role permissions."""

from __future__ import annotations

import json
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from backups.models import BackupJob, BackupRun, IntegrityCheck, RestorePoint, RunStatus
from opsgov.roles import COMPLIANCE_OFFICER, DEVOPS_LEAD, SECURITY_LEAD, SRE_LEAD
from tests.factories import ServiceFactory

from .support import fixture, make_job

pytestmark = pytest.mark.django_db


def _post(client: Any, job: BackupJob, body: str, query: str = "") -> Any:
    return client.post(f"/api/v1/backups/jobs/{job.pk}/reports/{query}", data=body, content_type="text/plain")


def test_a_restic_backup_report_creates_a_run_and_resending_changes_nothing(
    personas: dict[str, Any], client_for: Callable[..., Any]
) -> None:
    job = make_job()
    client = client_for(personas[SRE_LEAD])
    first = _post(client, job, fixture("restic-backup-ok.jsonl"))
    assert first.status_code == 201, first.content
    assert first.json()["runs_created"] == 1
    again = _post(client, job, fixture("restic-backup-ok.jsonl"))
    assert again.status_code == 200
    assert again.json()["runs_unchanged"] == 1
    run = BackupRun.objects.get(job=job)
    assert (run.status, run.report_format, run.size_bytes) == (RunStatus.SUCCEEDED, "restic-backup", 7516192768)


def test_the_format_and_exit_status_can_be_named(personas: dict[str, Any], client_for: Callable[..., Any]) -> None:
    job = make_job()
    client = client_for(personas[DEVOPS_LEAD])
    response = _post(client, job, fixture("restic-backup-ok.jsonl"), "?report_format=restic-backup&exit_status=3")
    assert response.status_code == 201
    assert BackupRun.objects.get(job=job).status == RunStatus.PARTIAL
    assert _post(client, job, "{}", "?report_format=bacula").json()["errors"][0]["field"] == "report_format"
    assert _post(client, job, "{}", "?exit_status=300").json()["errors"][0]["field"] == "exit_status"


def test_a_broken_report_is_a_400_naming_the_line_and_nothing_is_stored(
    personas: dict[str, Any], client_for: Callable[..., Any]
) -> None:
    job = make_job(tool="pgbackrest")
    client = client_for(personas[SRE_LEAD])
    data = json.loads(fixture("pgbackrest-info.json"))
    data[0]["backup"][1]["timestamp"]["stop"] = None  # the first backup parses, the second does not
    response = _post(client, job, json.dumps(data))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "[0].backup[1].timestamp.stop"
    lines = fixture("restic-backup-ok.jsonl").splitlines()
    lines[2] = lines[2][:-5]
    response = _post(client, job, "\n".join(lines), "?report_format=restic-backup")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "line 3"
    assert not BackupRun.objects.exists()
    assert not RestorePoint.objects.exists()


def test_pgbackrest_info_sets_runs_points_wal_and_encryption(
    personas: dict[str, Any], client_for: Callable[..., Any]
) -> None:
    job = make_job(tool="pgbackrest")
    client = client_for(personas[SRE_LEAD])
    assert _post(client, job, fixture("pgbackrest-info.json")).json()["runs_created"] == 2
    job.refresh_from_db()
    assert (job.encrypted, job.wal_archive_max) == (True, "000000010000000C0000003F")
    assert sorted(RestorePoint.objects.filter(job=job).values_list("point_id", flat=True)) == [
        "20260301-010000F",
        "20260301-010000F_20260302-010000I",
    ]
    assert _post(client, job, fixture("pgbackrest-info.json")).json()["runs_unchanged"] == 2


def test_snapshots_prune_points_no_longer_listed_and_check_records_integrity(
    personas: dict[str, Any], client_for: Callable[..., Any]
) -> None:
    job = make_job()
    client = client_for(personas[SRE_LEAD])
    snapshots = json.loads(fixture("restic-snapshots.json"))
    assert _post(client, job, json.dumps(snapshots)).json()["points_created"] == 2
    result = _post(client, job, json.dumps(snapshots[1:])).json()
    assert (result["points_created"], result["points_pruned"]) == (0, 1)
    assert RestorePoint.objects.filter(job=job, present=True).count() == 1
    assert _post(client, job, fixture("restic-check.jsonl")).json()["checks_created"] == 1
    assert _post(client, job, fixture("restic-check.jsonl")).json()["checks_created"] == 0  # the same, just sent
    assert IntegrityCheck.objects.get(job=job).ok


def test_barman_and_velero_reports(personas: dict[str, Any], client_for: Callable[..., Any]) -> None:
    barman = make_job(tool="barman", name="barman")
    velero = make_job(tool="velero", name="velero", data_type="application")
    client = client_for(personas[SRE_LEAD])
    _post(client, barman, fixture("barman-list-backups.json"))
    _post(client, barman, fixture("barman-check.json"))
    _post(client, velero, fixture("velero-backups.json"))
    assert dict(BackupRun.objects.filter(job=barman).values_list("snapshot_id", "status")) == {
        "20260302T020001": RunStatus.SUCCEEDED,
        "20260301T020001": RunStatus.FAILED,
    }
    assert not IntegrityCheck.objects.get(job=barman).ok
    assert dict(BackupRun.objects.filter(job=velero).values_list("snapshot_id", "status")) == {
        "daily-apps-20260302020012": RunStatus.PARTIAL,
        "daily-apps-20260303020009": RunStatus.SUCCEEDED,
    }


@pytest.mark.parametrize(("role", "expected"), [(SECURITY_LEAD, 403), (COMPLIANCE_OFFICER, 403), ("outsider", 403)])
def test_readers_cannot_post_reports(
    personas: dict[str, Any], client_for: Callable[..., Any], role: str, expected: int
) -> None:
    job = make_job()
    response = _post(client_for(personas[role]), job, fixture("restic-backup-ok.jsonl"))
    assert response.status_code in (expected, 404)
    assert not BackupRun.objects.exists()


def test_readers_read_jobs_with_their_checks(personas: dict[str, Any], client_for: Callable[..., Any]) -> None:
    job = make_job()
    response = client_for(personas[COMPLIANCE_OFFICER]).get(f"/api/v1/backups/jobs/{job.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert [check["key"] for check in body["checks"]] == [
        "freshness",
        "retention",
        "location",
        "integrity",
        "encryption",
    ]
    assert body["ping_url"].endswith(f"/ping/{job.uuid}")
    assert client_for(personas[COMPLIANCE_OFFICER]).post("/api/v1/backups/jobs/", {}).status_code == 403


def test_creating_a_job_takes_the_policys_defaults(personas: dict[str, Any], client_for: Callable[..., Any]) -> None:
    service = ServiceFactory()
    client = client_for(personas[SRE_LEAD])
    response = client.post(
        "/api/v1/backups/jobs/",
        {"service": service.slug, "data_type": "logs", "name": "logs", "repository": "/var/backups/logs"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["interval"], body["grace"], body["location"]) == (86400, 1800, "on-site")
    bad = client.post(
        "/api/v1/backups/jobs/", {"service": service.slug, "data_type": "nope", "name": "x"}, format="json"
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "data_type"


def test_the_import_command(tmp_path: Path) -> None:
    job = make_job(tool="velero", data_type="application")
    report = tmp_path / "velero.json"
    report.write_text(fixture("velero-backups.json"), encoding="utf-8")
    out = StringIO()
    call_command("import_backup_report", str(report), "--job", str(job.pk), stdout=out)
    assert json.loads(out.getvalue())["runs_created"] == 2
    call_command("import_backup_report", str(report), "--job", str(job.pk), stdout=StringIO())
    assert BackupRun.objects.filter(job=job).count() == 2
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"message_type": "summary"\n', encoding="utf-8")
    with pytest.raises(CommandError, match=r"broken\.jsonl: line 1: not JSON"):
        call_command("import_backup_report", str(broken), "--job", str(job.pk), "--format", "restic-backup")
    with pytest.raises(CommandError, match="No backup job with id 999999"):
        call_command("import_backup_report", str(report), "--job", "999999")
    assert timezone.now()


def test_a_pgbackrest_verify_report_through_the_api_is_an_integrity_check(
    personas: dict[str, Any], client_for: Callable[..., Any]
) -> None:
    job = make_job(tool="pgbackrest")
    client = client_for(personas[SRE_LEAD])
    ok = _post(client, job, fixture("pgbackrest-verify-ok.txt"))
    assert ok.status_code == 201, ok.content
    assert (ok.json()["format"], ok.json()["checks_created"]) == ("pgbackrest-verify", 1)
    bad = _post(client, job, "stanza: main\nstatus: ok\nnot verify output\n", "?report_format=pgbackrest-verify")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "line 3"
    invalid = _post(client, job, fixture("pgbackrest-verify-invalid.txt"))
    assert invalid.status_code == 201
    checks = list(IntegrityCheck.objects.filter(job=job).order_by("pk").values_list("ok", "errors"))
    assert checks == [(True, 0), (False, 1)]
