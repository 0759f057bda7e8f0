"""Celery tasks of the compliance area; every e-mail goes through the outbox (compliance.notices).

- ``compliance.tasks.escalate_overdue_findings``: every 15 minutes (beat), each open finding past its
  due date is escalated once: claimed and its notice written in one transaction, delivered on commit.
- ``compliance.tasks.remind_regulatory_tasks``: hourly (beat), open regulatory tasks due soon remind
  their owners once, the same way.
- ``compliance.tasks.deliver_notice``: one attempt at one notice (enqueued when it is written).
- ``compliance.tasks.send_due_notices``: every minute (beat), the outbox sweeper: retries and lost
  enqueues.
"""

from __future__ import annotations

from opsgov.celery_tasks import opsgov_task

from . import notices


@opsgov_task("compliance.tasks.escalate_overdue_findings", time_limit=120, soft_time_limit=100, retry_db_errors=True)
def escalate_overdue_findings() -> int:
    return notices.escalate_overdue()


@opsgov_task("compliance.tasks.remind_regulatory_tasks", time_limit=120, soft_time_limit=100, retry_db_errors=True)
def remind_regulatory_tasks() -> int:
    return notices.remind_regulatory_tasks()


@opsgov_task(notices.DELIVER_TASK, time_limit=120, soft_time_limit=100)
def deliver_notice(notice_id: int) -> int:
    return notices.deliver(notice_id)


@opsgov_task("compliance.tasks.send_due_notices", time_limit=120, soft_time_limit=100)
def send_due_notices() -> int:
    return notices.send_due()
