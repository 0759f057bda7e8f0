"""Demo backups for `manage.py seed_demo`: 90 days of runs for the demo services, a few failures, one missed
streak, restic snapshots and checks, two restore tests (one missed its RTO), a drill last quarter and one
overdue, DR plans; so the gate and the "Backup success rate" metric show a realistic state.

Deterministic (a seeded random generator; instants relative to now) and idempotent: nothing is added once
the demo's marker job exists. Jobs through backups.services; the history in bulk (about 6,800 runs).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import TextIO

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from opsgov.models import Service
from opsgov.roles import COMPLIANCE_OFFICER, SECURITY_LEAD, SRE_LEAD

from . import services
from .models import (
    ApprovalKind,
    BackupJob,
    BackupRun,
    DRDrill,
    DRPlan,
    IntegrityCheck,
    RestorePoint,
    RunSource,
    RunStatus,
)

SEED = 14
DAYS = 90
MARKER = "checkout database (pgBackRest)"
#: (service, data type, name, tool, repository)
JOBS = [
    ("checkout", "database", MARKER, "pgbackrest", "s3:s3.eu-west-1.amazonaws.com/acme-backups/checkout"),
    ("checkout", "application", "checkout release artefacts", "restic", "s3:s3.eu-west-1.amazonaws.com/acme-app"),
    (
        "payments-ledger",
        "database",
        "ledger database (pgBackRest)",
        "pgbackrest",
        "s3:s3.eu-central-1.amazonaws.com/ledger",
    ),
    ("auth", "database", "auth database (restic)", "restic", "sftp:backup@vault.example.com:/srv/restic/auth"),
    ("api-gateway", "configs", "gateway configs (git)", "generic", "git@git.example.com:ops/gateway-config.git"),
    ("web-frontend", "application", "web frontend (Velero)", "velero", "s3:s3.eu-west-1.amazonaws.com/velero"),
    ("reporting", "logs", "reporting logs (restic)", "restic", "/var/backups/reporting"),
]


def seed(*, stdout: TextIO) -> None:
    if BackupJob.objects.filter(name=MARKER).exists():
        stdout.write("Demo backups already present; skipped.\n")
        return
    by_slug = {service.slug: service for service in Service.objects.all()}
    if "checkout" not in by_slug:
        stdout.write("No demo services; no demo backups created.\n")
        return
    now = timezone.now()
    rng = random.Random(SEED)  # noqa: S311 - demo data, deterministic on purpose
    start = now - timedelta(days=DAYS)
    with transaction.atomic():
        jobs = []
        for slug, data_type, name, tool, repository in JOBS:
            if slug not in by_slug:
                continue
            job = services.job_create(
                service=by_slug[slug], data_type=data_type, name=name, tool=tool, repository=repository
            )
            BackupJob.objects.filter(pk=job.pk).update(created_at=start, encrypted=tool != "generic")
            job.refresh_from_db()
            jobs.append(job)
        runs = 0
        for job in jobs:
            runs += _history(job, start, now, rng)
        _restores_and_drills(by_slug, now)
    stdout.write(f"Demo backups: {len(jobs)} jobs, {runs} runs, 2 restore tests, 2 DR drills.\n")


def _history(job: BackupJob, start: datetime, now: datetime, rng: random.Random) -> int:
    grace = job.grace_period
    streak_start = now - timedelta(days=3, hours=5)  # the missed streak: checkout's database, three hours
    runs: list[BackupRun] = []
    points: list[RestorePoint] = []
    last_slot = None
    if job.scheduled:
        for slot in job.slots_after(start):
            if slot + grace > now:
                break
            last_slot = slot
            missed = job.name == MARKER and streak_start <= slot < streak_start + timedelta(hours=3)
            if missed:
                runs.append(
                    BackupRun(
                        job=job, status=RunStatus.MISSED, source=RunSource.SCHEDULE, slot=slot, recorded_at=slot + grace
                    )
                )
                continue
            began = slot + timedelta(seconds=rng.randint(5, 120))
            ended = began + timedelta(seconds=rng.randint(60, 900))
            status = RunStatus.FAILED if rng.random() < 0.01 else RunStatus.SUCCEEDED
            key = f"{job.pk}-{slot:%Y%m%d%H%M}" if status == RunStatus.SUCCEEDED else ""
            runs.append(
                BackupRun(
                    job=job,
                    status=status,
                    source=RunSource.REPORT if job.tool in ("pgbackrest", "velero") else RunSource.PING,
                    slot=slot,
                    started_at=began,
                    finished_at=ended,
                    recorded_at=ended,
                    size_bytes=rng.randint(2_000_000_000, 3_000_000_000),
                    snapshot_id=key,
                    exit_status=0 if status == RunStatus.SUCCEEDED else 1,
                    error="" if status == RunStatus.SUCCEEDED else "Fatal: unable to open repository: connection reset",
                )
            )
            if key and slot.hour == 2:  # a daily restore point kept in the repository
                points.append(RestorePoint(job=job, point_id=key, taken_at=ended, recorded_at=ended))
    else:  # configs: per change, a few a week
        at = start
        while at < now:
            at += timedelta(hours=rng.randint(20, 90))
            if at < now:
                key = f"{rng.getrandbits(40):010x}"
                runs.append(
                    BackupRun(
                        job=job,
                        status=RunStatus.SUCCEEDED,
                        source=RunSource.PING,
                        started_at=at,
                        finished_at=at,
                        recorded_at=at,
                        snapshot_id=key,
                    )
                )
                points.append(RestorePoint(job=job, point_id=key, taken_at=at, recorded_at=at))
    BackupRun.objects.bulk_create(runs, batch_size=2000)
    RestorePoint.objects.bulk_create(points, batch_size=2000)
    IntegrityCheck.objects.create(
        job=job,
        checked_at=now - timedelta(days=rng.randint(1, 20)),
        ok=True,
        report_format="restic-check",
        detail="no errors were found",
    )
    last_success = max(
        (run.finished_at for run in runs if run.status == RunStatus.SUCCEEDED and run.finished_at), default=None
    )
    BackupJob.objects.filter(pk=job.pk).update(materialised_until=last_slot, last_success_at=last_success)
    return len(runs)


def _restores_and_drills(by_slug: dict[str, Service], now: datetime) -> None:
    checkout_db = BackupJob.objects.get(name=MARKER)
    point = checkout_db.restore_points.order_by("-taken_at").first()
    services.record_restore_test(
        job=checkout_db,
        target="staging-db-restore-01",
        result="passed",
        started_at=now - timedelta(days=12, hours=3),
        verified_at=now - timedelta(days=12, hours=1, minutes=20),
        data_taken_at=now - timedelta(days=12, hours=3, minutes=40),
        restore_point=point.point_id if point else "",
        steps="pgbackrest restore --type=time into staging; run the smoke suite",
        verification="Row counts of the 42 tables match production's at the backup instant",
    )
    web = BackupJob.objects.filter(name="web frontend (Velero)").first()
    if web is not None:
        services.record_restore_test(
            job=web,
            target="dr-cluster-eu-central",
            result="passed",
            started_at=now - timedelta(days=30, hours=9),
            verified_at=now - timedelta(days=30, hours=2),
            data_taken_at=now - timedelta(days=30, hours=10),
            steps="velero restore create --from-backup daily-apps-…",
            verification="All 415 objects restored; the home page answers 200",
        )
    people = {
        role: get_user_model().objects.filter(groups__name=role, is_active=True).order_by("pk").first()
        for role in (SRE_LEAD, SECURITY_LEAD, COMPLIANCE_OFFICER)
    }
    checkout_drill = services.record_drill(
        drill=DRDrill(
            owner=people[SRE_LEAD],
            service=by_slug["checkout"],
            scenario="Loss of the primary region (eu-west-1)",
            held_at=now - timedelta(days=80),
            participants=[{"role": "SRE Lead", "name": "sre-lead"}, {"role": "DevOps Lead", "name": "devops-lead"}],
            timeline=[
                {"at": "T+0", "what": "Region declared lost"},
                {"at": "T+2h40", "what": "Checkout serving from eu-central-1"},
            ],
            rto_target_seconds=4 * 3600,
            rpo_target_seconds=3600,
            rto_achieved_seconds=2 * 3600 + 40 * 60,
            rpo_achieved_seconds=35 * 60,
            issues=["The DNS failover runbook names a decommissioned health check"],
        )
    )
    # The seed's approvals: the Security Lead validated data protection, the Compliance Officer compliance.
    for kind, role, note in (
        (ApprovalKind.DATA_PROTECTION, SECURITY_LEAD, "Restored data encrypted at rest; keys from the vault."),
        (ApprovalKind.COMPLIANCE, COMPLIANCE_OFFICER, "Evidence filed for the annual audit."),
    ):
        if people[role] is not None:
            services.drill_approve(
                drill=checkout_drill, kind=kind, actor=people[role], note=note, now=now - timedelta(days=78)
            )
    if "auth" in by_slug:
        services.record_drill(
            drill=DRDrill(
                service=by_slug["auth"],
                scenario="Corrupted user database",
                held_at=now - timedelta(days=200),
                rto_target_seconds=4 * 3600,
                rpo_target_seconds=3600,
                rto_achieved_seconds=5 * 3600,
                rpo_achieved_seconds=50 * 60,
                issues=["Restore needed a manual WAL replay step not in the plan"],
            )
        )
    DRPlan.objects.create(
        service=by_slug["checkout"],
        body="# Checkout DR plan\n\n1. Declare the incident.\n2. Fail over the database (pgBackRest restore).\n",
        reviewed_at=now - timedelta(days=40),
    )
    if "auth" in by_slug:
        DRPlan.objects.create(service=by_slug["auth"], body="# Auth DR plan\n\nTo be rewritten.\n", reviewed_at=None)
