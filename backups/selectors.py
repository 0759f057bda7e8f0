"""Reads of the backups app: the checks computed per job, and the success rate.

Checks (issue 14, item 4), computed from what opsgov recorded, never ticked:

- ``freshness``: the newest succeeded run ended within the job's frequency + grace (RPO). pgBackRest jobs
  show the newest archived WAL segment beside it. Jobs without a schedule (per change, continuous) pass
  with any succeeded run.
- ``retention``: the oldest restore point still present is at least the policy's retention old (the
  repository reaches back that far); none reported fails.
- ``location``: off-site (or version control) where the policy says so; on-site is enough only where
  the policy asks on-site.
- ``integrity``: the newest integrity check within ``backups.integrity_check_every`` passed.
- ``encryption``: a repository known to be unencrypted fails; one no report spoke of is at risk.

Success rate (item 8): per job, successful ÷ expected runs over a window. Expected: the scheduled slots
in the window that have a result (every slot past its grace has one: a run or a ``missed`` record), plus
the unscheduled jobs' finished runs. Successful: slots with a succeeded run that was not late.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q

from opsgov.humanize import ago
from opsgov.models import GateStatus
from opsgov.policy import BackupTarget, get_policy

from .models import BackupJob, BackupRun, IntegrityCheck, Location, RestorePoint, RunStatus, Tool

CHECKS = ("freshness", "retention", "location", "integrity", "encryption")


@dataclass(frozen=True)
class CheckResult:
    key: str
    title: str
    status: GateStatus
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == GateStatus.PASS


@dataclass(frozen=True)
class JobFacts:
    """What the checks need of a job, fetched for many jobs in a few grouped queries."""

    last_success: datetime | None
    oldest_point: datetime | None
    last_check: tuple[datetime, bool, str] | None


def job_facts(jobs: Iterable[BackupJob]) -> dict[int, JobFacts]:
    jobs = list(jobs)
    ids = [job.pk for job in jobs]
    last_success = {job.pk: job.last_success_at for job in jobs}  # kept on the job with each run
    oldest = dict(
        RestorePoint.objects.filter(job_id__in=ids, present=True)
        .values("job_id")
        .annotate(oldest=Min("taken_at"))
        .order_by()
        .values_list("job_id", "oldest")
    )
    checks: dict[int, tuple[datetime, bool, str]] = {}
    for job_id, at, ok, detail in (
        IntegrityCheck.objects.filter(job_id__in=ids)
        .order_by("job_id", "-checked_at", "-pk")
        .values_list("job_id", "checked_at", "ok", "detail")
    ):
        checks.setdefault(job_id, (at, ok, detail))
    return {job_id: JobFacts(last_success.get(job_id), oldest.get(job_id), checks.get(job_id)) for job_id in ids}


def _target(job: BackupJob) -> BackupTarget | None:
    return get_policy().backups.data_types.get(job.data_type)


def job_checks(job: BackupJob, *, now: datetime, facts: JobFacts | None = None) -> list[CheckResult]:
    facts = facts or job_facts([job])[job.pk]
    target = _target(job)
    return [
        _freshness(job, facts, now),
        _retention(target, facts, now),
        _location(job, target),
        _integrity(facts, now),
        _encryption(job),
    ]


def _freshness(job: BackupJob, facts: JobFacts, now: datetime) -> CheckResult:
    wal = f" Newest archived WAL segment: {job.wal_archive_max}." if job.tool == Tool.PGBACKREST else ""
    if job.tool == Tool.PGBACKREST and not job.wal_archive_max:
        wal = " No WAL archive reported."
    last = facts.last_success
    if last is None:
        return CheckResult("freshness", "Fresh (RPO)", GateStatus.FAIL, "No successful run recorded." + wal)
    frequency = job.frequency
    if frequency is None:
        return CheckResult("freshness", "Fresh (RPO)", GateStatus.PASS, f"Last success {ago(last, now)}." + wal)
    limit = frequency + job.grace_period
    status = GateStatus.PASS if now - last <= limit else GateStatus.FAIL
    detail = f"Last success {ago(last, now)}; expected every {_span(frequency)} + {_span(job.grace_period)} grace."
    return CheckResult("freshness", "Fresh (RPO)", status, detail + wal)


def _retention(target: BackupTarget | None, facts: JobFacts, now: datetime) -> CheckResult:
    if target is None:
        return CheckResult("retention", "Retention", GateStatus.FAIL, "The data type is not in the policy.")
    oldest = facts.oldest_point
    if oldest is None:
        return CheckResult("retention", "Retention", GateStatus.FAIL, "No restore points reported (snapshots/info).")
    reaches = target.retention.after(oldest) <= now
    detail = f"Oldest restore point {ago(oldest, now)}; the policy keeps {target.retention}."
    return CheckResult("retention", "Retention", GateStatus.PASS if reaches else GateStatus.FAIL, detail)


def _location(job: BackupJob, target: BackupTarget | None) -> CheckResult:
    required = target.location if target else Location.OFF_SITE
    actual = job.location or "unknown"
    ok = actual == required or (required == Location.ON_SITE and actual in (Location.OFF_SITE, Location.ON_SITE))
    detail = f"Repository {job.repository or '(none given)'} is {actual}; the policy asks {required}."
    return CheckResult("location", "Location", GateStatus.PASS if ok else GateStatus.FAIL, detail)


def _integrity(facts: JobFacts, now: datetime) -> CheckResult:
    period = get_policy().backups.integrity_check_every
    if facts.last_check is None:
        return CheckResult("integrity", "Integrity", GateStatus.FAIL, "No repository check recorded.")
    at, ok, detail = facts.last_check
    if not ok:
        return CheckResult("integrity", "Integrity", GateStatus.FAIL, f"Check {ago(at, now)} failed: {detail}")
    if period.after(at) < now:
        return CheckResult(
            "integrity", "Integrity", GateStatus.FAIL, f"Last check {ago(at, now)}; the policy asks every {period}."
        )
    return CheckResult("integrity", "Integrity", GateStatus.PASS, f"Passed {ago(at, now)}.")


def _encryption(job: BackupJob) -> CheckResult:
    if job.encrypted is True:
        return CheckResult("encryption", "Encryption", GateStatus.PASS, "The repository is encrypted.")
    if job.encrypted is False:
        return CheckResult("encryption", "Encryption", GateStatus.FAIL, "The repository is not encrypted.")
    return CheckResult("encryption", "Encryption", GateStatus.AT_RISK, "No report said whether it is encrypted.")


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} s"


# --- success rate ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    good: int
    expected: int

    @property
    def percent(self) -> float | None:
        return None if self.expected == 0 else self.good * 100 / self.expected


def success_counts(*, start: datetime, end: datetime, job_ids: Iterable[int] | None = None) -> dict[int, Rate]:
    """Per job: (successful, expected) runs in [start, end) (module docstring); two grouped queries."""
    runs = BackupRun.objects.all()
    if job_ids is not None:
        runs = runs.filter(job_id__in=list(job_ids))
    final = ~Q(status=RunStatus.STARTED)
    scheduled = runs.filter(slot__gte=start, slot__lt=end)
    counts: dict[int, Rate] = {}
    for job_id, expected, good in (
        scheduled.values("job_id")
        .annotate(
            expected=Count("slot", filter=final, distinct=True),
            good=Count("slot", filter=Q(status=RunStatus.SUCCEEDED, late=False), distinct=True),
        )
        .order_by()
        .values_list("job_id", "expected", "good")
    ):
        counts[job_id] = Rate(good, expected)
    for job_id, expected, good in (
        runs.filter(slot=None, finished_at__gte=start, finished_at__lt=end)
        .values("job_id")
        .annotate(expected=Count("pk", filter=final), good=Count("pk", filter=Q(status=RunStatus.SUCCEEDED)))
        .order_by()
        .values_list("job_id", "expected", "good")
    ):
        previous = counts.get(job_id, Rate(0, 0))
        counts[job_id] = Rate(previous.good + good, previous.expected + expected)
    return counts
