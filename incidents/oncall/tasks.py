"""Celery tasks of escalation and notification delivery: thin wrappers around incidents.oncall.escalation
and incidents.oncall.notifications, which publish them by name (a service never imports its tasks module).
The tasks keep the names they were registered under before this module moved here ("incidents.notify_tasks.*"),
which the beat schedule and messages already queued use.

- `escalate_due_incidents()`: the beat task, every minute. Runs every due
  escalation step and marks passed response targets. Safe to run
  concurrently with itself: each step is claimed under ``SELECT ... FOR UPDATE
  SKIP LOCKED`` and a conditional UPDATE on (level, next_escalation_at), so a
  level is notified once (incidents.oncall.escalation).
- `escalate_incident(incident_id, level, scheduled_at)`: one step, enqueued on
  commit when a step is due at once (level 1 without delay); a no-op if the
  beat task (or a redelivery) got there first.
- `deliver_notification(notification_id)`: one delivery attempt, claimed with
  a conditional UPDATE (pending/retrying -> sending); the outcome is recorded,
  failures scheduled for a retry with backoff (incidents.oncall.notifications).
- `retry_due_notifications()`: the sweeper, every minute: enqueues deliveries
  whose retry time came, and any whose first enqueue was lost. Retries are
  these rows, not Celery countdowns, so a broker outage loses nothing.

All tasks take ids, are idempotent and acks_late; they retry (bounded, with
backoff) only on transient database errors. Enqueueing never raises on a
broker outage: the rows are in the database and the beat tasks pick them up.
"""

from __future__ import annotations

from django.utils.dateparse import parse_datetime

from opsgov.celery_tasks import opsgov_task

from . import escalation, notifications


@opsgov_task("incidents.notify_tasks.escalate_due_incidents", time_limit=120, soft_time_limit=100)
def escalate_due_incidents() -> dict[str, int]:
    """Run the due escalation steps and mark passed response targets; returns counts."""
    run = escalation.escalate_due()
    return {"steps": len(run.steps), "breached": len(run.breached), "errors": run.errors}


@opsgov_task("incidents.notify_tasks.escalate_incident", time_limit=60, soft_time_limit=45, retry_db_errors=True)
def escalate_incident(incident_id: int, level: int, scheduled_at: str) -> int | None:
    """Run the escalation step (incident, level last notified, scheduled time) if still current.

    Returns the level notified, or None when there was nothing to do.
    """
    when = parse_datetime(scheduled_at)
    if when is None:
        raise ValueError(f"Not an ISO 8601 datetime: {scheduled_at!r}")
    step = escalation.escalate(incident_id=incident_id, level=level, scheduled_at=when)
    return step.level if step is not None else None


@opsgov_task("incidents.notify_tasks.deliver_notification", time_limit=90, soft_time_limit=75, retry_db_errors=True)
def deliver_notification(notification_id: int) -> str | None:
    """Try to deliver one notification; returns its new status, or None when it was not due."""
    result = notifications.deliver(notification_id=notification_id)
    return str(result.status) if result is not None else None


@opsgov_task("incidents.notify_tasks.retry_due_notifications", time_limit=60, soft_time_limit=45)
def retry_due_notifications() -> int:
    """Enqueue delivery of every notification due for a (re)try; returns how many were enqueued."""
    return notifications.enqueue_deliveries(notifications.due_notification_ids())
