"""Celery tasks of backups (beat entries in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from opsgov.celery_tasks import opsgov_task

from . import notices, self_backup, services


@opsgov_task("backups.reconcile_schedules", time_limit=120, soft_time_limit=100)
def reconcile_schedules() -> int:
    """Record the runs that did not arrive within their grace period as missed; returns how many."""
    return services.reconcile()


@opsgov_task("backups.backup_self_if_due", time_limit=3600, soft_time_limit=3500)
def backup_self_if_due() -> str | None:
    """Back opsgov's own database up when OPSGOV_BACKUP_DIR is set and the policy's database frequency says so."""
    result = self_backup.backup_self_if_due()
    return str(result.path) if result is not None else None


@opsgov_task("backups.deliver_failure_notice", time_limit=60, soft_time_limit=45, retry_db_errors=True)
def deliver_failure_notice(notice_id: int) -> str:
    """Send one owner e-mail about a failed or missed run (backups.notices); returns its status."""
    return notices.deliver(notice_id)


@opsgov_task("backups.retry_failure_notices", time_limit=60, soft_time_limit=45)
def retry_failure_notices() -> int:
    """Enqueue the owner e-mails due (lost enqueues, retries); returns how many were enqueued."""
    return notices.retry_due()


@opsgov_task("backups.apply_pings", time_limit=120, soft_time_limit=100)
def apply_pings() -> int:
    """Apply the accepted pings to their jobs' runs (enqueued by a ping, and by beat every 10 s)."""
    applied = 0
    while count := services.apply_pings():
        applied += count
    return applied
