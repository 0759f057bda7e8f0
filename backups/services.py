"""Writes of the backups app: jobs, pings, reports, the missed-run reconciliation, restore tests and drills.

Every function takes keyword arguments, validates with ``full_clean()`` and
writes in one transaction: a report that does not parse, or a part of it that
does not fit, stores nothing.

Instants are opsgov's: a ping's run starts and ends when opsgov received the
pings; a report's own times (restic's backup_start, pgBackRest's epoch stamps)
are the tool's data and are kept as given, but a run without them ends when
opsgov recorded it.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from opsgov import pings, ratelimit
from opsgov.errors import DomainError
from opsgov.events import ImprovementItem, ServiceAlert, raise_alert, raise_improvement_item
from opsgov.policy import get_policy
from opsgov.publishing import publish
from opsgov.roles import COMPLIANCE_OFFICER, SECURITY_LEAD, SRE_LEAD

from . import notices, parsers
from .models import (
    ApprovalKind,
    BackupJob,
    BackupPing,
    BackupRun,
    DRDrill,
    DRDrillApproval,
    IntegrityCheck,
    RestorePoint,
    RestoreResult,
    RestoreTest,
    RunSource,
    RunStatus,
)

logger = logging.getLogger(__name__)

#: Pings beyond this rate per job get 429 and are counted (BackupJob.n_rate_limited). A job pings a few
#: times per run (start, end, maybe a log), so 30 a minute is far above any honest use.
PING_RATE = ratelimit.Rate(30, 60)
#: The most of a ping body kept as the run's output (the grammar reads up to opsgov.pings.PING_BODY_LIMIT).
OUTPUT_LIMIT = pings.PING_BODY_LIMIT
#: Most jobs the missed-run reconciliation handles per beat run; the rest wait for the next.
RECONCILE_BATCH = 1000
#: A new job's first expected slot is not before this long ago (a job created today is not missed for last year).
BACKFILL_LIMIT = timedelta(days=2)

JOB_FIELDS = (
    "service",
    "data_type",
    "name",
    "tool",
    "interval",
    "offset",
    "cron",
    "timezone",
    "grace",
    "repository",
    "location",
    "owner",
    "active",
)


# --- jobs --------------------------------------------------------------------------------------


@transaction.atomic
def job_create(**fields: Any) -> BackupJob:
    """A job; schedule, grace and location default from the policy's data type."""
    unknown = set(fields) - set(JOB_FIELDS)
    if unknown:
        raise DomainError(f"These fields cannot be set: {', '.join(sorted(unknown))}.")
    job = BackupJob(**fields)
    job.apply_policy_defaults()
    job.full_clean()
    job.save()
    return job


@transaction.atomic
def job_update(*, job: BackupJob, **fields: Any) -> BackupJob:
    unknown = set(fields) - set(JOB_FIELDS)
    if unknown:
        raise DomainError(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    job = BackupJob.objects.select_for_update().get(pk=job.pk)
    for name, value in fields.items():
        setattr(job, name, value)
    job.full_clean()
    job.save()
    return job


# --- runs ------------------------------------------------------------------------------------


def _slot(job: BackupJob, at: datetime | None) -> datetime | None:
    return job.slot_of(at) if at is not None else None


def _is_late(job: BackupJob, slot: datetime | None) -> bool:
    """Whether `slot` was already reconciled (its grace period ended, so it was recorded as missed)."""
    return slot is not None and job.materialised_until is not None and slot <= job.materialised_until


def _result_updates(job: BackupJob, run: BackupRun) -> dict[str, Any]:
    """The job's alerting bookkeeping once `run` has a result (inside the run's transaction): what changes.

    A success ends the failure episode (and resolves the incident two missed database backups opened);
    the first failure of an episode is when the owner was told (once per episode, not once per run).
    """
    updates: dict[str, Any] = {}
    if run.status == RunStatus.SUCCEEDED:
        if run.finished_at is not None and (job.last_success_at is None or run.finished_at > job.last_success_at):
            updates["last_success_at"] = run.finished_at
        if job.consecutive_missed:
            updates["consecutive_missed"] = 0
        if job.failure_notified_at is not None:
            updates["failure_notified_at"] = None
        if job.incident_open:
            _missed_alert(job, status="resolved", at=run.recorded_at)
            updates["incident_open"] = False
    elif run.status != RunStatus.STARTED:
        if run.status != RunStatus.MISSED and job.consecutive_missed:
            updates["consecutive_missed"] = 0
        if job.failure_notified_at is None:
            updates["failure_notified_at"] = run.recorded_at
            _notify_first_failure(job, run)
    for name, value in updates.items():
        setattr(job, name, value)
    return updates


def _notify_first_failure(job: BackupJob, run: BackupRun) -> None:
    """Write the owner's e-mail about `run`, the episode's first failure (in the transaction recording it)."""
    notices.queue([notices.notice_for(job, run, now=run.recorded_at)])


def _after_result(job: BackupJob, run: BackupRun) -> None:
    updates = _result_updates(job, run)
    if updates:
        BackupJob.objects.filter(pk=job.pk).update(**updates)


def _missed_alert(job: BackupJob, *, status: str, at: datetime) -> None:
    raise_alert(
        ServiceAlert(
            service_id=job.service_id,
            key=f"backup-missed:{job.uuid}",
            status=status,  # type: ignore[arg-type]
            severity=get_policy().backups.missed_incident_severity,
            title=(
                f"Backup job “{job.name}” missed two runs in a row"
                if status == "firing"
                else f"Backup job “{job.name}” succeeded again"
            ),
            at=at,
            source="backup",
            summary=f"{job.data_type} backups of {job.service} did not arrive within their grace period.",
            details={"job": job.name, "data_type": job.data_type},
        )
    )


# --- pings ------------------------------------------------------------------------------------


def _decode(body: bytes) -> str:
    return body[:OUTPUT_LIMIT].decode("utf-8", errors="replace")


def _append(existing: str, new: str) -> str:
    """The run's output with `new` appended on a line of its own, the newest OUTPUT_LIMIT characters kept."""
    return "\n".join(part for part in (existing, new) if part)[-OUTPUT_LIMIT:]


def _parsed_body(body: bytes, exit_status: int | None) -> parsers.ParsedRun | None:
    """A restic ``backup --json`` output in the ping body, parsed; None when the body is not one."""
    text = _decode(body)
    if '"message_type"' not in text:
        return None
    try:
        report = parsers.parse(text, "restic-backup", exit_status=exit_status)
    except parsers.ReportError:
        return None
    return report.runs[0] if report.runs else None


def handle_ping(ping: pings.Ping) -> pings.PingResult | None:
    """The backups receiver of opsgov.pings for a uuid whose owner is not known yet: None for no job's."""
    job_id = BackupJob.objects.filter(uuid=ping.uuid).values_list("pk", flat=True).first()
    return None if job_id is None else handle_owned_ping(ping, job_id)


def handle_owned_ping(ping: pings.Ping, job_id: int) -> pings.PingResult | None:
    """A ping of the job `job_id` (opsgov.pings found it): 429 beyond PING_RATE (counted), else one INSERT;
    None (404) when the job is gone (a stale cached owner: its INSERT breaks the foreign key).

    The ping is applied to the job's runs moments later (``apply_pings``), in arrival order and with the
    instant it was received, so the endpoint does one uuid lookup (core's cache: one Redis read, the
    database only for a uuid not seen within two days), the rate limiter's one Redis round trip and one
    INSERT, whatever the job's history."""
    verdict = pings.admit("backups", ping.uuid, PING_RATE, counted=ping.counted)
    if not verdict.allowed:
        BackupJob.objects.filter(pk=job_id).update(n_rate_limited=F("n_rate_limited") + 1)
        return pings.PingResult(accepted=False, retry_after=verdict.retry_after)
    values = (job_id, ping.kind, ping.exit_status, ping.rid, ping.received_at, _decode(ping.body), ping.body_truncated)
    try:
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            # The INSERT does not wait for its WAL flush (PostgreSQL's asynchronous commit): a ping lost in a
            # database crash within its last fraction of a second leaves its slot missed, never falsely met.
            with connection.cursor() as cursor:
                cursor.execute(_ASYNC_INSERT, values)
        else:
            BackupPing(**dict(zip(_PING_FIELDS, values, strict=True))).save(force_insert=True)
    except IntegrityError:  # the job was deleted behind the cache's back (see opsgov.pings)
        pings.forget(ping.uuid, receiver_key="backups", pk=job_id)
        return None
    _request_apply()
    return pings.PingResult()


#: One statement (so that it can be prepared: the ingest service binds on the server, where a statement
#: holding two commands is refused): the row, with ``synchronous_commit`` off for its own transaction (the
#: statement's, in autocommit) by ``set_config(..., is_local => true)`` in its FROM.
_ASYNC_INSERT = (
    "INSERT INTO backups_backupping (job_id, kind, exit_status, rid, received_at, body, body_truncated) "
    "SELECT %s::bigint, %s::varchar, %s::smallint, %s::uuid, %s::timestamptz, %s::text, %s::boolean "
    "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS asynchronous_commit"
)


#: The columns of _ASYNC_INSERT, in its order.
_PING_FIELDS = ("job_id", "kind", "exit_status", "rid", "received_at", "body", "body_truncated")


#: Cache key that debounces the apply task: the first ping of a quiet moment enqueues it, the others wait.
_APPLY_KEY = "backups:apply-pings"
#: Seconds between two enqueues of the apply task (by all processes, through _APPLY_KEY).
APPLY_DEBOUNCE = 2
#: The most pings one apply_pings call applies (the next call takes the rest).
APPLY_BATCH = 2000


class _ProcessGate:
    """When this process last looked at _APPLY_KEY, so that it looks at most every APPLY_DEBOUNCE seconds."""

    def __init__(self) -> None:
        self.asked_at = -math.inf

    def open(self) -> bool:
        """Whether this process may look now (and, if so, that it does); races between threads are harmless."""
        now = time.monotonic()
        if now - self.asked_at < APPLY_DEBOUNCE:
            return False
        self.asked_at = now
        return True

    def reset(self) -> None:
        """Forget the last look (tests: a test's first ping looks again)."""
        self.asked_at = -math.inf


APPLY_GATE = _ProcessGate()


def _request_apply() -> None:
    """Enqueue ``backups.apply_pings`` unless it was enqueued in the last 2 s (the beat task covers the rest).

    A process looks at the shared key at most every 2 s (APPLY_GATE), so most pings make no cache call: a
    ping within 2 s of its process's last look waits, like one that finds the key set, for a later ping's
    enqueue or beat's run (every 10 s). With the cache down, the gate alone bounds the enqueues."""
    if not APPLY_GATE.open():
        return
    try:
        first = cache.add(_APPLY_KEY, 1, timeout=APPLY_DEBOUNCE)
    except Exception:
        logger.warning("The apply task's debounce key is unreachable; enqueuing it anyway", exc_info=True)
        first = True
    if first:
        publish(APPLY_TASK, (), logger=logger, what="the application of backup pings", then="beat will apply them")


APPLY_TASK = "backups.apply_pings"


def apply_pings(*, limit: int = APPLY_BATCH) -> int:
    """Apply the accepted pings to their jobs' runs, oldest first; returns how many were applied.

    One transaction: the pings are claimed (skip-locked, so two appliers never take the same), each job
    locked once and its pings applied in order (see :func:`record_ping`), then the pings deleted. A ping
    that cannot be applied is logged and dropped with its job's pings of this batch (the others go on)."""
    with transaction.atomic():
        batch = list(BackupPing.objects.select_for_update(skip_locked=True).order_by("pk")[:limit])
        if not batch:
            return 0
        by_job: dict[int, list[BackupPing]] = defaultdict(list)
        for item in batch:
            by_job[item.job_id].append(item)
        for job_id, items in by_job.items():
            try:
                with transaction.atomic():
                    job = BackupJob.objects.select_for_update().get(pk=job_id)
                    job_updates: dict[str, Any] = {"n_pings": F("n_pings") + len(items)}
                    for item in items:
                        ping = pings.Ping(
                            uuid=job.uuid,
                            kind=item.kind,  # type: ignore[arg-type]
                            received_at=item.received_at,
                            exit_status=item.exit_status,
                            rid=item.rid,
                            body=item.body.encode(),
                            body_truncated=item.body_truncated,
                        )
                        _apply_ping(job, ping, ping.received_at, item.body, job_updates)
                    BackupJob.objects.filter(pk=job.pk).update(**job_updates)
            except Exception:  # one job's broken ping must not block every other job's
                logger.exception("Backup pings %s of job %s could not be applied; dropped", items, job_id)
        BackupPing.objects.filter(pk__in=[item.pk for item in batch]).delete()
    return len(batch)


def record_ping(*, job: BackupJob, ping: pings.Ping) -> BackupRun | None:
    """Apply a ping: /start opens a run; success, /fail or an exit status ends the open run with the same rid
    (or the newest open run without a rid), else records a run of its own; /log appends to the open run.

    Four statements for a ping without a start (lock the job, look for an open run, insert the run,
    count the ping), whatever the history."""
    now = ping.received_at
    output = _decode(ping.body)
    with transaction.atomic():
        job = BackupJob.objects.select_for_update().get(pk=job.pk)
        job_updates: dict[str, Any] = {"n_pings": F("n_pings") + 1}
        try:
            return _apply_ping(job, ping, now, output, job_updates)
        finally:
            BackupJob.objects.filter(pk=job.pk).update(**job_updates)


def _apply_ping(
    job: BackupJob, ping: pings.Ping, now: datetime, output: str, job_updates: dict[str, Any]
) -> BackupRun | None:
    if ping.kind == "start":
        return BackupRun.objects.create(
            job=job,
            status=RunStatus.STARTED,
            source=RunSource.PING,
            slot=_slot(job, now),
            started_at=now,
            recorded_at=now,
            rid=ping.rid,
            output=output,
            output_truncated=ping.body_truncated,
        )
    open_runs = job.runs.filter(status=RunStatus.STARTED, source=RunSource.PING)
    open_run = (open_runs.filter(rid=ping.rid) if ping.rid else open_runs.filter(rid=None)).order_by("-pk").first()
    if ping.kind == "log":
        if open_run is not None and output:
            open_run.output = _append(open_run.output, output)
            open_run.save(update_fields=["output"])
        return open_run
    parsed = _parsed_body(ping.body, ping.exit_status)
    if ping.kind == "fail":
        status = RunStatus.PARTIAL if ping.exit_status == 3 and parsed and parsed.key else RunStatus.FAILED
    elif parsed is not None:
        status = RunStatus(parsed.status)
    else:
        status = RunStatus.SUCCEEDED
    if parsed is not None and parsed.key:
        existing = job.runs.filter(snapshot_id=parsed.key).first()
        if existing is not None:
            return existing  # the same snapshot reported twice: nothing changes
    run = open_run or BackupRun(job=job, source=RunSource.PING, rid=ping.rid)
    run.status = status
    run.finished_at = now
    run.recorded_at = now
    run.exit_status = ping.exit_status
    run.output = _append(run.output, output)
    run.output_truncated = run.output_truncated or ping.body_truncated
    if parsed is not None:
        run.snapshot_id = parsed.key
        run.size_bytes = parsed.size_bytes
        run.report_format = "restic-backup"
        run.raw_report = parsed.raw
        run.error = parsed.error
        if run.started_at is None and parsed.raw and (summary := parsed.raw.get("summary")):
            duration = summary.get("total_duration")
            if isinstance(duration, int | float) and not isinstance(duration, bool):
                run.started_at = now - timedelta(seconds=float(duration))
        if parsed.key and job.encrypted is None:
            job_updates["encrypted"] = True  # restic repositories are always encrypted
    if run.started_at is None:
        run.started_at = now
    if run.slot is None:
        run.slot = _slot(job, run.started_at)
    run.late = _is_late(job, run.slot)
    # The database's constraints guard uniqueness; the snapshot was looked up above.
    run.full_clean(exclude=["job"], validate_constraints=False)
    run.save()
    job_updates.update(_result_updates(job, run))
    return run


# --- reports -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    format: str
    runs_created: int = 0
    runs_unchanged: int = 0
    points_created: int = 0
    points_pruned: int = 0
    checks_created: int = 0
    restore: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "runs_created": self.runs_created,
            "runs_unchanged": self.runs_unchanged,
            "points_created": self.points_created,
            "points_pruned": self.points_pruned,
            "checks_created": self.checks_created,
            "restore": self.restore,
        }


def import_report(
    *, job: BackupJob, text: str, fmt: str | None = None, exit_status: int | None = None, now: datetime | None = None
) -> ImportResult:
    """Parse and store a report (ReportError when it does not parse; nothing stored then).

    Idempotent: runs are keyed by snapshot id / backup label / backup name, restore points by their id,
    so re-sending a report changes nothing. Integrity checks are events and are recorded once per call
    unless the same check (format, result, detail) was already recorded within the last minute.
    """
    now = now or timezone.now()
    report = parsers.parse(text, fmt, exit_status=exit_status, tz=parsers.zone(job.timezone))
    with transaction.atomic():
        job = BackupJob.objects.select_for_update().get(pk=job.pk)
        created = unchanged = 0
        for parsed in report.runs:
            if parsed.key and job.runs.filter(snapshot_id=parsed.key).exists():
                unchanged += 1
                continue
            started = parsed.started_at
            finished = parsed.finished_at or now
            run = BackupRun(
                job=job,
                status=parsed.status,
                source=RunSource.REPORT,
                slot=(slot := _slot(job, started or finished)),
                late=_is_late(job, slot),
                started_at=started,
                finished_at=finished,
                recorded_at=now,
                size_bytes=parsed.size_bytes,
                snapshot_id=parsed.key,
                exit_status=parsed.exit_status,
                report_format=report.format,
                raw_report=_jsonable(parsed.raw),
                error=parsed.error[:10000],
            )
            run.full_clean(exclude=["job"])
            try:
                with transaction.atomic():
                    run.save()
            except IntegrityError:  # a concurrent import stored the same key first
                unchanged += 1
                continue
            created += 1
            _after_result(job, run)
        points_created = pruned = 0
        if report.points is not None:
            seen = set()
            for point in report.points:
                seen.add(point.point_id)
                _, made = RestorePoint.objects.update_or_create(
                    job=job,
                    point_id=point.point_id,
                    defaults={
                        "taken_at": point.taken_at,
                        "size_bytes": point.size_bytes,
                        "expires_at": point.expires_at,
                        "details": _jsonable(point.details),
                        "present": True,
                    },
                    create_defaults={
                        "taken_at": point.taken_at,
                        "size_bytes": point.size_bytes,
                        "expires_at": point.expires_at,
                        "details": _jsonable(point.details),
                        "recorded_at": now,
                    },
                )
                points_created += made
            if report.points_complete:
                pruned = job.restore_points.filter(present=True).exclude(point_id__in=seen).update(present=False)
        checks = 0
        for check in report.checks:
            recent = job.integrity_checks.filter(
                report_format=report.format,
                ok=check.ok,
                detail=check.detail,
                checked_at__gte=now - timedelta(minutes=1),
            )
            if not recent.exists():
                IntegrityCheck.objects.create(
                    job=job,
                    checked_at=now,
                    ok=check.ok,
                    errors=check.errors,
                    report_format=report.format,
                    detail=check.detail,
                    raw_report=_jsonable(report.raw),
                )
                checks += 1
        updates: dict[str, Any] = {}
        if report.encrypted is not None and job.encrypted is not False:
            updates["encrypted"] = report.encrypted
        if report.wal_archive_max:
            updates["wal_archive_max"] = report.wal_archive_max
        if updates:
            BackupJob.objects.filter(pk=job.pk).update(**updates)
    restore = None
    if report.restore is not None:
        restore = {
            "seconds_elapsed": report.restore.seconds_elapsed,
            "files_restored": report.restore.files_restored,
            "bytes_restored": report.restore.bytes_restored,
        }
    return ImportResult(report.format, created, unchanged, points_created, pruned, checks, restore)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str)) if value is not None else None


# --- the schedule: missed runs ------------------------------------------------------------------


def reconcile(*, now: datetime | None = None, limit: int = RECONCILE_BATCH) -> int:
    """Record a ``missed`` run for every expected slot whose grace period ended without a run; returns how many.

    Incremental: each job remembers how far it was reconciled (``materialised_until``), and only jobs
    whose next slot's grace has ended are read (interval jobs are filtered in SQL). A job's first slot
    is its creation, at most BACKFILL_LIMIT back. The jobs of one call are locked, read and written in
    a few statements whatever their number: one read of their runs in the due slots, one insert of the
    missed runs, one update of the jobs. Two consecutive missed runs of a database job open an incident
    (ServiceAlert, severity from the policy); its next success resolves it.
    """
    now = now or timezone.now()
    while apply_pings():  # the pings that arrived in time answer their slots before any is missed
        pass
    policy_grace = get_policy().backups.grace.as_timedelta()
    next_due = ExpressionWrapper(
        F("materialised_until") + F("interval") + Coalesce(F("grace"), Value(policy_grace)),
        output_field=DateTimeField(),
    )
    candidates = (
        BackupJob.objects.filter(active=True)
        .exclude(interval=None, cron="")
        .annotate(next_due=next_due)
        .filter(Q(materialised_until=None) | ~Q(cron="") | Q(next_due__lte=now))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    with transaction.atomic():
        jobs = list(BackupJob.objects.select_for_update().filter(pk__in=list(candidates)).order_by("pk"))
        due: dict[int, list[datetime]] = {}
        for job in jobs:
            slots = _due_slots(job, now)
            if slots:
                due[job.pk] = slots
        if not due:
            return 0
        earliest = min(slots[0] for slots in due.values())
        latest = max(slots[-1] for slots in due.values())
        answered: set[tuple[int, datetime]] = set()
        already: set[tuple[int, datetime]] = set()
        for job_id, slot, status in (
            BackupRun.objects.filter(job_id__in=list(due), slot__gte=earliest, slot__lte=latest)
            .exclude(status=RunStatus.STARTED)  # a run only started (its end never came) is missed too
            .values_list("job_id", "slot", "status")
        ):
            if slot is not None:
                (already if status == RunStatus.MISSED else answered).add((job_id, slot))
        new_runs: list[BackupRun] = []
        first_missed: dict[int, BackupRun] = {}  # job id → the missed run that starts an episode
        changed: list[BackupJob] = []
        for job in jobs:
            if job.pk not in due:
                continue
            slots = due[job.pk]
            grace = job.grace_period
            missed = [s for s in slots if (job.pk, s) not in answered and (job.pk, s) not in already]
            runs = [
                BackupRun(job=job, status=RunStatus.MISSED, source=RunSource.SCHEDULE, slot=s, recorded_at=s + grace)
                for s in missed
            ]
            new_runs.extend(runs)
            streak = job.consecutive_missed
            for slot in slots:
                streak = 0 if (job.pk, slot) in answered else streak + 1
            job.materialised_until = slots[-1]
            job.consecutive_missed = streak
            if runs and job.failure_notified_at is None:
                job.failure_notified_at = runs[0].recorded_at
                first_missed[job.pk] = runs[0]
            if streak >= 2 and job.data_type == "database" and not job.incident_open:
                _missed_alert(job, status="firing", at=now)
                job.incident_open = True
            changed.append(job)
        BackupRun.objects.bulk_create(new_runs, batch_size=2000)
        if first_missed:
            owners = BackupJob.objects.select_related("owner", "service__owner_team").in_bulk(list(first_missed))
            notices.queue(notices.notice_for(owners[pk], run, now=now) for pk, run in first_missed.items())
        # One UPDATE per distinct new state: jobs of one schedule share it (Django's bulk_update builds a CASE
        # per row and field, seconds of Python for 500 jobs).
        groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for job in changed:
            state = (job.materialised_until, job.consecutive_missed, job.failure_notified_at, job.incident_open)
            groups[state].append(job.pk)
        for (cursor, streak, notified, incident), ids in groups.items():
            BackupJob.objects.filter(pk__in=ids).update(
                materialised_until=cursor,
                consecutive_missed=streak,
                failure_notified_at=notified,
                incident_open=incident,
            )
    return len(new_runs)


def _due_slots(job: BackupJob, now: datetime) -> list[datetime]:
    """The job's slots after its reconciliation cursor whose grace period has ended (at most 10,000)."""
    grace = job.grace_period
    since = job.materialised_until or max(job.created_at, now - BACKFILL_LIMIT)
    due: list[datetime] = []
    for slot in job.slots_after(since):
        if slot + grace > now or len(due) >= 10000:
            break
        due.append(slot)
    return due


# --- restore tests and drills ---------------------------------------------------------------------


@transaction.atomic
def record_restore_test(
    *,
    job: BackupJob,
    target: str,
    result: str,
    started_at: datetime,
    verified_at: datetime,
    restore_point: str = "",
    data_taken_at: datetime | None = None,
    steps: str = "",
    verification: str = "",
    evidence: Any = None,
    recorded_by: Any = None,
) -> RestoreTest:
    """A restore test; RTO (started → verified) and RPO (started - data taken) are measured, targets from policy."""
    target_policy = get_policy().backups.data_types.get(job.data_type)
    if target_policy is None:
        raise DomainError(f"The job's data type {job.data_type!r} is no longer in the policy.")
    if data_taken_at is None and restore_point:
        point = job.restore_points.filter(point_id=restore_point).first()
        data_taken_at = point.taken_at if point else None
    rpo_target = target_policy.rpo or (
        target_policy.frequency if not isinstance(target_policy.frequency, str) else None
    )
    test = RestoreTest(
        job=job,
        restore_point=restore_point,
        target=target,
        steps=steps,
        verification=verification,
        result=result,
        started_at=started_at,
        verified_at=verified_at,
        data_taken_at=data_taken_at,
        rto_seconds=(verified_at - started_at).total_seconds(),
        rpo_seconds=(started_at - data_taken_at).total_seconds() if data_taken_at else None,
        rto_target_seconds=target_policy.rto.as_timedelta().total_seconds(),
        rpo_target_seconds=rpo_target.as_timedelta().total_seconds() if rpo_target is not None else None,
        evidence=_jsonable(evidence),
        recorded_by=recorded_by,
    )
    if verified_at < started_at:
        raise DomainError("verified_at is before started_at.")
    if result not in RestoreResult.values:
        raise DomainError(f"result must be one of {', '.join(RestoreResult.values)}.")
    test.full_clean()
    test.save()
    return test


#: Who validates what of a DR drill (the seed: the SRE Lead owns, these two roles validate).
APPROVAL_ROLES = {ApprovalKind.DATA_PROTECTION: SECURITY_LEAD, ApprovalKind.COMPLIANCE: COMPLIANCE_OFFICER}


def holds_role(user: Any, role: str) -> bool:
    return bool(getattr(user, "is_active", False) and user.groups.filter(name=role).exists())


@transaction.atomic
def record_drill(*, drill: DRDrill) -> DRDrill:
    """Store a DR drill; each issue found becomes an improvement-backlog item (opsgov.events).
    Its owner, when named, holds the SRE Lead role."""
    if drill.owner is not None and not holds_role(drill.owner, SRE_LEAD):
        raise DomainError(f"The drill's owner must hold the role {SRE_LEAD}.", field="owner")
    drill.full_clean()
    drill.save()
    for index, issue in enumerate(drill.issues):
        title = issue.get("title") if isinstance(issue, dict) else str(issue)
        raise_improvement_item(
            ImprovementItem(
                service_id=drill.service_id,
                key=f"dr-drill:{drill.pk}:{index}",
                title=str(title)[:200],
                source="dr-drill",
                description=f"Found in the DR drill “{drill.scenario}” of {drill.held_at:%Y-%m-%d}.",
                at=drill.held_at,
            )
        )
    return drill


@transaction.atomic
def drill_approve(
    *, drill: DRDrill, kind: str, actor: Any, note: str = "", now: datetime | None = None
) -> DRDrillApproval:
    """Record a validation of `drill`: data protection by a Security Lead, compliance by a Compliance Officer.

    The approver holds the kind's role and is not the drill's owner (PermissionDenied else); each kind is
    recorded once (DomainError on `kind` for a second). The approval is audited (django-auditlog, its actor).
    A drill counts for the gate's "DR drill in period" only once both kinds are recorded."""
    if kind not in APPROVAL_ROLES:
        raise DomainError(f"kind must be one of {', '.join(APPROVAL_ROLES)}.", field="kind")
    role = APPROVAL_ROLES[ApprovalKind(kind)]
    what = ApprovalKind(kind).label.split(" (")[0].lower()
    locked = DRDrill.objects.select_for_update().get(pk=drill.pk)
    if actor is None or not holds_role(actor, role):
        raise PermissionDenied(f"Validating {what} needs the role {role}.")
    if locked.owner_id is not None and actor.pk == locked.owner_id:
        raise PermissionDenied("The drill's owner cannot validate their own drill.")
    if locked.approvals.filter(kind=kind).exists():
        raise DomainError(
            f"The {ApprovalKind(kind).label.split(' (')[0].lower()} validation is recorded already.", field="kind"
        )
    approval = DRDrillApproval(
        drill=locked, kind=kind, role=role, approver=actor, approved_at=now or timezone.now(), note=note.strip()
    )
    approval.full_clean()
    approval.save()
    return approval
