"""Celery tasks of the compliance area.

- ``compliance.tasks.escalate_overdue_findings``: every 15 minutes (beat), each open finding past its
  due date is escalated once (a conditional UPDATE claims it, so two workers escalate it once): its
  owner and the compliance officers are e-mailed, and the finding shows when it was escalated.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.utils import timezone

from opsgov.celery_tasks import opsgov_task
from opsgov.roles import COMPLIANCE_OFFICER

from . import services

logger = logging.getLogger(__name__)


@opsgov_task("compliance.tasks.escalate_overdue_findings", time_limit=120, soft_time_limit=100, retry_db_errors=True)
def escalate_overdue_findings() -> int:
    now = timezone.now()
    officers = list(
        get_user_model()
        .objects.filter(groups__name=COMPLIANCE_OFFICER, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    count = 0
    for finding in services.overdue_to_escalate(now):
        if not services.finding_escalate(finding=finding, now=now):
            continue  # another worker escalated it
        count += 1
        recipients = sorted({*officers, *([finding.owner.email] if finding.owner and finding.owner.email else [])})
        if recipients:
            try:
                send_mail(
                    subject=f"[opsgov] Overdue {finding.severity} finding: {finding.title}",
                    message=f"The finding {finding.title!r} was due {finding.due_at:%Y-%m-%d %H:%M} UTC and is "
                    f"{finding.get_status_display().lower()}.",
                    from_email=None,
                    recipient_list=recipients,
                )
            except OSError:
                logger.exception("could not e-mail the escalation of finding %s", finding.pk)
    return count
