"""Compliance e-mails through core's outbox (opsgov.outbox): overdue findings and regulatory task reminders.

- ``escalate_overdue(now)``: each open finding past its due date is escalated once. In one transaction
  per finding, a conditional UPDATE claims it (``escalated_at``; two workers escalate it once) and the
  ComplianceNotice to its owner and the compliance officers is written; its delivery is enqueued when
  that transaction commits.
- ``remind_regulatory_tasks(now)``: each open regulatory task due within the policy's
  ``compliance.regulatory_reminder_before`` (or overdue) is claimed once (``reminded_at``) and its owner
  and the compliance officers get a notice, the same way.
- ``deliver(notice_id)``: one attempt at one notice (claimed, sent over SMTP, recorded: sent, or retried
  1, 2, 4, 8 minutes later, then failed for a person to look at).
- ``send_due(now)``: the sweeper (beat, every minute): delivers what is due, including notices whose
  on-commit enqueue was lost, and fails sends whose lease ran out on their last attempt.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from opsgov.models import OutboxStatus
from opsgov.outbox import Outbox, OutboxPolicy
from opsgov.policy import get_policy
from opsgov.roles import COMPLIANCE_OFFICER

from .models import ComplianceNotice, Finding, FindingStatus, NoticeKind, RegulatoryTask

logger = logging.getLogger(__name__)

#: The delivery rows of compliance e-mails (default numbers: five attempts, 1-8 minutes apart).
NOTICES: Outbox[ComplianceNotice] = Outbox(ComplianceNotice, OutboxPolicy())
DELIVER_TASK = "compliance.tasks.deliver_notice"
#: Rows one run handles (escalations, reminders, deliveries).
BATCH = 100
#: Open statuses that escalate (a remediated finding waits for its verifier, not its owner).
ESCALATING = (FindingStatus.IDENTIFIED, FindingStatus.PLANNED, FindingStatus.IN_PROGRESS)


def officer_emails() -> list[str]:
    return list(
        get_user_model()
        .objects.filter(groups__name=COMPLIANCE_OFFICER, is_active=True)
        .exclude(email="")
        .order_by("email")
        .values_list("email", flat=True)
        .distinct()
    )


def _recipients(officers: list[str], owner: Any) -> list[str]:
    return sorted({*officers, *([owner.email] if owner is not None and owner.email else [])})


def _link(path: str) -> str:
    return f"{settings.OPSGOV_BASE_URL.rstrip('/')}{path}"


# --- Overdue findings ------------------------------------------------------------------------


def escalate_overdue(*, now: datetime | None = None) -> int:
    """Escalate each overdue open finding once, its notice written with the claim; returns how many."""
    now = now or timezone.now()
    officers = officer_emails()
    candidates = list(
        Finding.objects.filter(status__in=ESCALATING, due_at__lte=now, escalated_at__isnull=True)
        .order_by("due_at", "pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    count = 0
    for finding_id in candidates:
        count += _escalate_one(finding_id, officers=officers, now=now)
    return count


def _escalate_one(finding_id: int, *, officers: list[str], now: datetime) -> int:
    with transaction.atomic():
        claimed = Finding.objects.filter(
            pk=finding_id, status__in=ESCALATING, escalated_at__isnull=True, due_at__lte=now
        ).update(escalated_at=now, updated_at=now)
        if not claimed:
            return 0  # another worker escalated it, or it moved on meanwhile
        finding = Finding.objects.select_related("owner", "control").get(pk=finding_id)
        recipients = _recipients(officers, finding.owner)
        if not recipients:
            logger.error("Finding %s is overdue and nobody can be told (no owner e-mail, no officer)", finding.pk)
            return 1
        overdue_days = (now - finding.due_at).days
        notice = ComplianceNotice.objects.create(
            kind=NoticeKind.FINDING_OVERDUE,
            finding=finding,
            recipients=recipients,
            subject=f"[opsgov] Overdue {finding.severity} finding: {finding.title}"[:255],
            body="\n".join(
                [
                    f"The {finding.get_severity_display().lower()} finding {finding.title!r} was due "
                    f"{finding.due_at:%Y-%m-%d %H:%M} UTC ({overdue_days} day(s) ago) and is "
                    f"{finding.get_status_display().lower()}.",
                    f"Control: {finding.control}" if finding.control else "Control: none",
                    f"Owner: {finding.owner.get_username() if finding.owner else 'nobody'}",
                    "",
                    _link(finding.get_absolute_url()),
                    "",
                    "You get this e-mail as the finding's owner or as a compliance officer.",
                ]
            ),
            next_attempt_at=NOTICES.first_attempt_at(now),
        )
        NOTICES.enqueue_on_commit(DELIVER_TASK, [notice.pk])
    return 1


# --- Regulatory task reminders ---------------------------------------------------------------


def reminder_window() -> timedelta:
    return get_policy().compliance.regulatory_reminder_before.approximate(business_day_hours=24)


def remind_regulatory_tasks(*, now: datetime | None = None) -> int:
    """Remind the owner of each open task due within the reminder window (or overdue), once; returns how many."""
    now = now or timezone.now()
    horizon = (now + reminder_window()).date()
    officers = officer_emails()
    candidates = list(
        RegulatoryTask.objects.filter(done_at__isnull=True, reminded_at__isnull=True, due_on__lte=horizon)
        .order_by("due_on", "pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    count = 0
    for task_id in candidates:
        count += _remind_one(task_id, officers=officers, horizon=horizon, now=now)
    return count


def _remind_one(task_id: int, *, officers: list[str], horizon: Any, now: datetime) -> int:
    with transaction.atomic():
        claimed = RegulatoryTask.objects.filter(
            pk=task_id, done_at__isnull=True, reminded_at__isnull=True, due_on__lte=horizon
        ).update(reminded_at=now, updated_at=now)
        if not claimed:
            return 0
        task = RegulatoryTask.objects.select_related("owner", "change").get(pk=task_id)
        recipients = _recipients(officers, task.owner)
        if not recipients:
            logger.error("Regulatory task %s is due and nobody can be told", task.pk)
            return 1
        days = (task.due_on - now.date()).days
        when = f"due in {days} day(s)" if days >= 0 else f"{-days} day(s) overdue"
        notice = ComplianceNotice.objects.create(
            kind=NoticeKind.REGULATORY_TASK_DUE,
            regulatory_task=task,
            recipients=recipients,
            subject=f"[opsgov] Regulatory task {when}: {task.description}"[:255],
            body="\n".join(
                [
                    f"The task {task.description!r} for the regulatory change {task.change.title!r} "
                    f"(effective {task.change.effective_date:%Y-%m-%d}) is due {task.due_on:%Y-%m-%d}: {when}.",
                    f"Owner: {task.owner.get_username()}",
                    "",
                    _link(reverse("admin:compliance_regulatorychange_change", args=[task.change_id])),
                ]
            ),
            next_attempt_at=NOTICES.first_attempt_at(now),
        )
        NOTICES.enqueue_on_commit(DELIVER_TASK, [notice.pk])
    return 1


# --- Delivery ----------------------------------------------------------------------------------


def _email(notice: ComplianceNotice) -> EmailMessage:
    return EmailMessage(
        subject=notice.subject,
        body=notice.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(notice.recipients),
        headers={"Auto-Submitted": "auto-generated", "X-Opsgov-Delivery": f"compliance-notice-{notice.pk}"},
    )


def deliver(notice_id: int, *, now: datetime | None = None) -> int:
    """One attempt at one notice; 1 when it was sent (0: not due, held by another sender, or failed)."""
    return int(NOTICES.send_email(notice_id, _email, now=now or timezone.now()) == OutboxStatus.SENT)


def send_due(*, now: datetime | None = None) -> int:
    """The sweeper: fail lost last attempts, deliver what is due; returns how many were sent."""
    now = now or timezone.now()
    NOTICES.fail_lost(now=now)
    sent = 0
    for notice_id in NOTICES.due(now=now).order_by("pk").values_list("pk", flat=True)[:BATCH]:
        sent += deliver(notice_id, now=now)
    return sent
