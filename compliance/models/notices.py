"""E-mails of the compliance area, delivered through core's outbox (opsgov.outbox).

A notice is written in the same transaction that claims what it tells about (a finding's escalation,
a regulatory task's reminder), so a claim never goes untold and nothing is told twice; the delivery
is claimed once, retried with backoff, and left failed for a person after the last attempt.
"""

from __future__ import annotations

from django.db import models

from opsgov.models import OutboxMessage

from .audits import Finding
from .regulatory import RegulatoryTask


class NoticeKind(models.TextChoices):
    FINDING_OVERDUE = "finding_overdue", "Overdue finding escalated"
    REGULATORY_TASK_DUE = "regulatory_task_due", "Regulatory task due"


class ComplianceNotice(OutboxMessage):
    """One e-mail to compliance officers and owners (compliance.notices)."""

    kind = models.CharField(max_length=24, choices=NoticeKind.choices)
    finding = models.ForeignKey(Finding, on_delete=models.PROTECT, null=True, blank=True, related_name="notices")
    regulatory_task = models.ForeignKey(
        RegulatoryTask, on_delete=models.PROTECT, null=True, blank=True, related_name="notices"
    )
    recipients = models.JSONField(default=list, help_text="E-mail addresses, as resolved when it was written.")
    subject = models.CharField(max_length=255)
    body = models.TextField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="compliancenotice_due_idx")]

    def __str__(self) -> str:
        return self.subject
