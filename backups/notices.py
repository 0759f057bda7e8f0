"""The owner hears of a failed or missed run once per failure episode, by e-mail through opsgov.outbox.

An episode starts with a job's first failed, partial or missed run after a success (or ever) and ends with
its next success. The transaction that records the episode's first failure also sets the job's
``failure_notified_at`` and writes a :class:`~backups.models.BackupFailureNotice` (recipients: the job's
owner, else the service's owner team); later failures of the same episode, a missed run every hour for a
day say, write none. The notice is sent by the task ``backups.deliver_failure_notice`` once that
transaction commits; the beat task ``backups.retry_failure_notices`` (every minute) enqueues what a broker
outage left and the retries the outbox schedules (1, 2, 4, 8 minutes, then failed for a person).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from opsgov.outbox import Outbox, OutboxPolicy

from .models import BackupFailureNotice, BackupJob, BackupRun, RunStatus

logger = logging.getLogger(__name__)

NOTICES: Outbox[BackupFailureNotice] = Outbox(BackupFailureNotice, OutboxPolicy())
DELIVERY_TASK = "backups.deliver_failure_notice"
#: Notices one sweep enqueues.
SWEEP_BATCH = 500

_WHAT = {
    RunStatus.FAILED: "failed",
    RunStatus.PARTIAL: "partially failed (not everything is in the backup)",
    RunStatus.MISSED: "did not run (nothing arrived within its grace period)",
}


def recipients(job: BackupJob) -> list[str]:
    """The job owner's address, else the service owner team's; empty when neither has one."""
    owner = job.owner
    if owner is not None and owner.is_active and owner.email:
        return [owner.email]
    team_email = job.service.owner_team.email
    return [team_email] if team_email else []


def _schedule(job: BackupJob) -> str:
    if job.cron:
        return f"cron {job.cron} {job.timezone}"
    if job.interval is not None:
        return f"every {job.interval}"
    return "unscheduled"


def notice_for(job: BackupJob, run: BackupRun, *, now: datetime) -> BackupFailureNotice | None:
    """The unsaved message about `run`, the first failure of an episode; None when nobody can be told."""
    to = recipients(job)
    if not to:
        logger.warning("Backup job %s (%s) failed: no owner or owner team e-mail to notify", job.pk, job.name)
        return None
    base = settings.OPSGOV_BASE_URL.rstrip("/")
    when = run.slot or run.finished_at or run.recorded_at
    what = _WHAT.get(RunStatus(run.status), run.status)
    lines = [
        f"The {job.data_type} backup “{job.name}” of {job.service.name} {what}.",
        "",
        f"Run: {run.status}, expected at {when:%Y-%m-%d %H:%M} UTC ({_schedule(job)}).",
    ]
    if run.exit_status is not None:
        lines.append(f"Exit status: {run.exit_status}")
    if run.error:
        lines.append(f"Error: {run.error[:500]}")
    lines += [
        "",
        f"Job and its runs: {base}{job.get_absolute_url()}",
        "",
        "This is the only e-mail about this episode: further failed or missed runs of the job are not",
        "e-mailed until a run succeeds again. You get it as the job's owner (or the service's owner team).",
    ]
    return BackupFailureNotice(
        job=job,
        run=run,
        recipients=to,
        subject=f"[opsgov] Backup {job.name} of {job.service.name}: {run.status}",
        body="\n".join(lines),
        next_attempt_at=NOTICES.first_attempt_at(now),
    )


def queue(notices: Iterable[BackupFailureNotice | None]) -> list[BackupFailureNotice]:
    """Write the notices (inside the caller's transaction, one INSERT) and enqueue their delivery on commit."""
    rows = [notice for notice in notices if notice is not None]
    if not rows:
        return []
    stored = BackupFailureNotice.objects.bulk_create(rows)
    NOTICES.enqueue_on_commit(DELIVERY_TASK, [row.pk for row in stored], what="delivery of backup notice %s")
    return stored


def email(notice: BackupFailureNotice) -> EmailMessage:
    return EmailMessage(
        subject=notice.subject,
        body=notice.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(notice.recipients),
        headers={"Auto-Submitted": "auto-generated", "X-Opsgov-Backup-Job": str(notice.job.uuid)},
    )


def deliver(notice_id: int, *, now: datetime | None = None) -> str:
    """One attempt at one notice if it is due and nobody else holds it; returns its status afterwards."""
    rows = BackupFailureNotice.objects.select_related("job")
    return NOTICES.send_email(notice_id, email, now=now or timezone.now(), rows=rows) or "not claimed"


def retry_due(*, now: datetime | None = None) -> int:
    """Enqueue the notices due (lost enqueues, retries); mark failed the lost last attempts."""
    now = now or timezone.now()
    NOTICES.fail_lost(now=now)
    due: list[Any] = list(NOTICES.due(now=now).order_by("pk").values_list("pk", flat=True)[:SWEEP_BATCH])
    return NOTICES.enqueue(DELIVERY_TASK, due)
