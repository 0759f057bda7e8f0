"""The shared columns of every delivery (a notification, an email, a webhook): see opsgov.outbox.

An app's delivery model subclasses :class:`OutboxMessage` and adds what the
message is about (incident, gate change, report period) and where it goes;
opsgov.outbox.Outbox claims, records and retries its rows. The state machine
is documented there, once.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from .core import TimeStampedModel


class OutboxStatus(models.TextChoices):
    """Where a delivery stands (opsgov.outbox). An outbox may keep failed attempts waiting in "pending"
    or "failed" instead of "retrying" (its policy's ``retry_status``), and then need only four of these."""

    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    RETRYING = "retrying", "Retrying"
    FAILED = "failed", "Failed"


class OutboxMessage(TimeStampedModel):
    """Abstract base of a delivery row: its status, attempts, next attempt (or lease), and outcome.

    A subclass may redeclare ``status`` (a shorter column, its own choices) and
    remove ``next_attempt_at`` (``= None``) when it keeps its lease in a column
    of its own (opsgov.outbox.Outbox, ``lease_field``).
    """

    status = models.CharField(max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Pending or retrying: when the next attempt is due. Sending: when the claim's lease runs out.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        abstract = True
