"""Celery tasks of the scheduled email reports: thin wrappers around opsgov.reports.services.

`send_scheduled_report(kind)` is the beat task (weekly: Monday 07:00, monthly:
the 1st at 07:00, in the policy's time zone; CELERY_BEAT_SCHEDULE). It sends the
last complete period's report to every recipient who has not had it. Safe to
run twice at once and to retry: each recipient's ReportDelivery row is claimed
before sending (opsgov.reports.services), so a doubled beat sends once. Deliveries that
failed, or that another sender holds, are retried (bounded, with backoff) with
the period fixed, so a retry after midnight still sends the same period.
"""

from __future__ import annotations

from typing import Any

from celery import Task

from ..celery_tasks import opsgov_task
from . import services


@opsgov_task("opsgov.report_tasks.send_scheduled_report", bind=True, time_limit=600, soft_time_limit=540, max_retries=3)
def send_scheduled_report(self: Task, kind: str, period_start: str | None = None) -> dict[str, Any]:
    period = services.parse_period(kind, period_start)
    result = services.send_report(kind=kind, period=period)
    if (result.failed or result.busy) and self.request.retries < (self.max_retries or 0):
        raise self.retry(
            args=(kind, period.first_day.isoformat()),
            # The policy's backoff, 11 minutes doubled each time: a busy row's lease is 10 minutes.
            countdown=services.POLICY.retry_delay(self.request.retries + 1).total_seconds(),
        )
    return result.as_dict()
