"""The schedule against what happened: missed runs, late runs, the incident after two consecutive missed
database backups, the success-rate metric (hand-computed) and the gate."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from backups import services
from backups.metrics import compute_success_rate
from backups.models import BackupJob, BackupRun, DRDrill, DRPlan, RestorePoint, RunStatus, ServiceBackupScope
from backups.selectors import job_checks
from incidents.models import ActionItem, RawEvent
from opsgov.models import GateStatus
from opsgov.registry import gates, metrics
from opsgov.roles import COMPLIANCE_OFFICER, SECURITY_LEAD

from .support import PingClient, fixture, make_job

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 12, 10, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def _job(**fields: object) -> BackupJob:
    job = make_job(**fields)
    BackupJob.objects.filter(pk=job.pk).update(created_at=datetime(2026, 11, 20, 6, 40, tzinfo=UTC))
    job.refresh_from_db()
    return job


def _ping(client: Client, job: BackupJob, at: datetime, clock: time_machine.Traveller, action: str = "0") -> None:
    clock.move_to(at)
    assert client.get(f"/ping/{job.uuid}/{action}").status_code == 200


def _history(job: BackupJob, clock: time_machine.Traveller) -> None:
    """07:05 ok, 08:02 fail, 09:01 ok, then nothing at 10:00 and 11:00."""
    client = PingClient()
    _ping(client, job, datetime(2026, 11, 20, 7, 5, tzinfo=UTC), clock)
    _ping(client, job, datetime(2026, 11, 20, 8, 2, tzinfo=UTC), clock, "1")
    _ping(client, job, datetime(2026, 11, 20, 9, 1, tzinfo=UTC), clock)
    clock.move_to(T0)


def test_slots_without_a_run_are_missed_once(clock: time_machine.Traveller) -> None:
    job = _job()
    _history(job, clock)
    assert services.reconcile(now=T0) == 2
    assert services.reconcile(now=T0) == 0  # incremental: nothing new
    missed = list(BackupRun.objects.filter(job=job, status=RunStatus.MISSED).order_by("slot"))
    slots = [datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(2026, 11, 20, 11, tzinfo=UTC)]
    assert [run.slot for run in missed] == slots
    assert [run.recorded_at for run in missed] == [slot + timedelta(minutes=30) for slot in slots]


def test_a_start_without_end_is_missed(clock: time_machine.Traveller) -> None:
    job = _job()
    _ping(PingClient(), job, datetime(2026, 11, 20, 11, 0, 30, tzinfo=UTC), clock, "start")
    services.reconcile(now=T0)
    slots = set(BackupRun.objects.filter(job=job, status=RunStatus.MISSED).values_list("slot", flat=True))
    assert datetime(2026, 11, 20, 11, tzinfo=UTC) in slots


def test_two_consecutive_missed_database_backups_open_one_incident_and_a_success_resolves_it(
    clock: time_machine.Traveller,
) -> None:
    job = _job()
    _history(job, clock)
    services.reconcile(now=T0)
    key = f"backup-missed:{job.uuid}"
    assert list(RawEvent.objects.filter(dedup_key=key).values_list("action", flat=True)) == ["trigger"]
    job.refresh_from_db()
    assert (job.consecutive_missed, job.incident_open) == (2, True)
    services.reconcile(now=T0 + timedelta(hours=1))  # a third miss: the same episode, no new alert
    assert RawEvent.objects.filter(dedup_key=key).count() == 1
    _ping(PingClient(), job, T0 + timedelta(hours=1, minutes=5), clock)
    assert list(RawEvent.objects.filter(dedup_key=key).order_by("id").values_list("action", flat=True)) == [
        "trigger",
        "resolve",
    ]
    job.refresh_from_db()
    assert (job.consecutive_missed, job.incident_open, job.failure_notified_at) == (0, False, None)


def test_missed_logs_backups_open_no_incident(clock: time_machine.Traveller) -> None:
    job = _job(data_type="logs", interval=timedelta(hours=1), name="logs")
    services.reconcile(now=T0)
    assert BackupRun.objects.filter(job=job, status=RunStatus.MISSED).count() == 5
    assert not RawEvent.objects.exists()


def test_success_rate_is_successful_over_expected_with_missed_and_late_runs_failing(
    clock: time_machine.Traveller,
) -> None:
    job = _job()
    _history(job, clock)
    services.reconcile(now=T0)
    values = {value.scope: value for value in compute_success_rate(window="7d", now=T0)}
    # Slots 07..11: 07 ok, 08 failed, 09 ok, 10 and 11 missed: 2 / 5.
    assert values[f"job:{job.pk}"].value == pytest.approx(40.0)
    assert values[f"job:{job.pk}"].sample_size == 5
    assert values[f"service:{job.service.slug}"].value == pytest.approx(40.0)
    assert values["data_type:database"].value == pytest.approx(40.0)
    assert values["global"].details == {"good": 2, "expected": 5}
    # A report of a backup that started at 10:20 arrives after its slot was recorded missed: late, still failed.
    late = fixture("restic-backup-ok.jsonl").replace("2026-03-02T02:00:01.5+01:00", "2026-11-20T10:20:00Z")
    services.import_report(job=job, text=late)
    assert BackupRun.objects.get(job=job, report_format="restic-backup").late is True
    assert compute_success_rate(window="7d", now=T0)[0].value == pytest.approx(40.0)
    # The 12:00 slot answered on time: 3 / 6 once its grace has passed.
    _ping(PingClient(), job, datetime(2026, 11, 20, 12, 15, tzinfo=UTC), clock)
    services.reconcile(now=datetime(2026, 11, 20, 13, 0, tzinfo=UTC))
    rate = compute_success_rate(window="7d", now=datetime(2026, 11, 20, 13, 0, tzinfo=UTC))[0]
    assert (rate.value, rate.details) == (pytest.approx(50.0), {"good": 3, "expected": 6})


def test_the_metric_is_registered_with_the_policy_target() -> None:
    metric = metrics.get("backup_success_rate")
    assert (metric.title, metric.unit, metric.target()) == ("Backup success rate", "percent", 100.0)
    assert metric.meets_target(100.0) is True
    assert metric.meets_target(99.9) is False


def test_no_expected_runs_is_no_data_not_100(clock: time_machine.Traveller) -> None:
    job = make_job()
    values = {value.scope: value for value in compute_success_rate(window="7d", now=T0)}
    assert values[f"job:{job.pk}"].value is None
    assert values[f"job:{job.pk}"].details["no_data"]


def test_job_checks_reflect_the_records(clock: time_machine.Traveller) -> None:
    job = _job(repository="/var/backups/db")
    checks = {check.key: check for check in job_checks(job, now=T0)}
    assert checks["freshness"].status == GateStatus.FAIL
    assert checks["location"].status == GateStatus.FAIL  # a local path is on-site; the policy asks off-site
    assert checks["encryption"].status == GateStatus.AT_RISK
    services.import_report(job=job, text=fixture("restic-backup-ok.jsonl"))  # restic 2026-03-02: old
    services.import_report(job=job, text=fixture("restic-snapshots.json"))
    services.import_report(job=job, text=fixture("restic-check.jsonl"))
    job.refresh_from_db()
    checks = {check.key: check for check in job_checks(job, now=T0)}
    assert checks["freshness"].status == GateStatus.FAIL  # the last success is months old
    assert checks["retention"].status == GateStatus.PASS  # the oldest snapshot (2025-12-01) reaches 90 days back
    assert checks["integrity"].status == GateStatus.PASS
    assert checks["encryption"].status == GateStatus.PASS


def test_the_gate_per_service_and_data_type(clock: time_machine.Traveller, make_user: Callable[..., User]) -> None:
    job = _job()
    ServiceBackupScope.objects.create(service=job.service, data_types=["database"])
    result = gates.get("backup_dr").evaluate(now=T0)
    rows = {row.key: row for row in result.evidence}
    assert result.status == GateStatus.FAIL
    slug = job.service.slug
    assert f"job:{slug}:application" not in rows  # the service declared only databases
    assert rows[f"freshness:{slug}:database:{job.pk}"].status == GateStatus.FAIL
    assert rows[f"restore:{slug}:database"].status == GateStatus.FAIL
    assert rows[f"drill:{slug}"].status == GateStatus.FAIL
    assert rows[f"dr-plan:{slug}"].status == GateStatus.FAIL
    assert rows[f"freshness:{slug}:database:{job.pk}"].url == job.get_absolute_url()

    # Everything in order: fresh, retained, off-site, checked, encrypted, restored within targets, drilled.
    client = PingClient()
    _ping(client, job, T0 - timedelta(minutes=8), clock)
    clock.move_to(T0)
    RestorePoint.objects.create(job=job, point_id="old", taken_at=T0 - timedelta(days=91))
    services.import_report(job=job, text=fixture("restic-check.jsonl"))
    BackupJob.objects.filter(pk=job.pk).update(encrypted=True)
    services.record_restore_test(
        job=job,
        target="scratch",
        result="passed",
        started_at=T0 - timedelta(hours=2),
        verified_at=T0 - timedelta(hours=1),
        data_taken_at=T0 - timedelta(hours=2, minutes=30),
    )
    DRPlan.objects.create(service=job.service, body="# Plan", reviewed_at=T0 - timedelta(days=10))
    drill = services.record_drill(
        drill=DRDrill(
            service=job.service,
            scenario="Region loss",
            held_at=T0 - timedelta(days=20),
            rto_target_seconds=4 * 3600,
            rpo_target_seconds=3600,
            rto_achieved_seconds=3 * 3600,
            rpo_achieved_seconds=1800,
            issues=["Runbook step 4 names the old bucket"],
        )
    )
    # A drill counts only once both validations are recorded; the evidence says so.
    row = {row.key: row for row in gates.get("backup_dr").evaluate(now=T0).evidence}[f"drill:{slug}"]
    assert row.status == GateStatus.FAIL
    assert "Security Lead (data protection) and the Compliance Officer (compliance)" in row.detail
    assert "The drill of 2026-10-31 awaits validation." in row.detail
    services.drill_approve(drill=drill, kind="data_protection", actor=make_user("sec", SECURITY_LEAD))
    row = {row.key: row for row in gates.get("backup_dr").evaluate(now=T0).evidence}[f"drill:{slug}"]
    assert row.status == GateStatus.FAIL  # one of two
    services.drill_approve(drill=drill, kind="compliance", actor=make_user("co", COMPLIANCE_OFFICER))
    result = gates.get("backup_dr").evaluate(now=T0)
    row = {row.key: row for row in result.evidence}[f"drill:{slug}"]
    assert row.detail == "Drilled 20 days ago; data protection and compliance validated."
    assert [(row.key, row.status) for row in result.evidence if row.status != GateStatus.PASS] == []
    assert result.status == GateStatus.PASS
    # The drill's issue is on the improvement backlog (incidents' ActionItem), once.
    (item,) = ActionItem.objects.filter(source_key__startswith="improvement:dr-drill:")
    assert (item.title, item.service_id) == ("Runbook step 4 names the old bucket", job.service_id)


def test_a_restore_that_missed_its_rto_fails_the_gate_row(clock: time_machine.Traveller) -> None:
    job = _job()
    test = services.record_restore_test(
        job=job,
        target="scratch",
        result="passed",
        started_at=T0 - timedelta(hours=6),
        verified_at=T0 - timedelta(hours=1),
    )
    assert (test.rto_seconds, test.rto_target_seconds, test.met_targets) == (5 * 3600, 4 * 3600, False)
    rows = {row.key: row for row in gates.get("backup_dr").evaluate(now=T0).evidence}
    assert rows[f"restore:{job.service.slug}:database"].status == GateStatus.FAIL
