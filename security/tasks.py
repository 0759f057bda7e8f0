"""Celery tasks of the security area (thin wrappers around its services; schedules in settings).

- ``security.tasks.escalate_access_reviews``: every 15 minutes (beat), open access review campaigns
  past their deadline with undecided rows are escalated once to the Security Leads, and due
  escalation e-mails are delivered through the outbox (security.access_reviews.escalate_due).
"""

from __future__ import annotations

from opsgov.celery_tasks import opsgov_task

from . import access_reviews


@opsgov_task("security.tasks.escalate_access_reviews", time_limit=120, soft_time_limit=100, retry_db_errors=True)
def escalate_access_reviews() -> int:
    return access_reviews.escalate_due()
