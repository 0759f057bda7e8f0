"""The owner's e-mail about a failed or missed run, once per failure episode, delivered through opsgov.outbox."""

from __future__ import annotations

from django.db import models

from opsgov.models import OutboxMessage

from .jobs import BackupJob
from .runs import BackupRun


class BackupFailureNotice(OutboxMessage):
    """Written in the transaction that records the episode's first failed, partial or missed run (the job's
    ``failure_notified_at`` is set in the same one, so the next failures of the episode write none), then
    sent by the task ``backups.deliver_failure_notice``; the sweeper ``backups.retry_failure_notices`` takes
    what a broker outage left, and failed sends are retried with the outbox's backoff."""

    job = models.ForeignKey(BackupJob, on_delete=models.CASCADE, related_name="failure_notices")
    run = models.ForeignKey(BackupRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    recipients = models.JSONField(default=list, help_text="E-mail addresses, as resolved when it was written.")
    subject = models.CharField(max_length=255)
    body = models.TextField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="backupnotice_due_idx")]

    def __str__(self) -> str:
        return self.subject
