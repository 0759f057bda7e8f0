"""E-mail in (each fetched message, once) and out (an outbox of support e-mails)."""

from __future__ import annotations

from django.db import models

from opsgov.models import OutboxMessage, TimeStampedModel

from .contacts import Contact
from .tickets import Ticket


class InboundOutcome(models.TextChoices):
    TICKET = "ticket", "Opened a ticket"
    REPLY = "reply", "Threaded onto a ticket"
    AUTO_REPLY = "auto_reply", "Automatic reply (ignored)"
    BOUNCE = "bounce", "Delivery failure (recorded)"
    ERROR = "error", "Could not be parsed (moved to the error folder)"


class InboundMessage(TimeStampedModel):
    """One message fetched from the support mailbox, by Message-ID: fetching it again changes nothing."""

    message_id = models.CharField(max_length=300, unique=True)
    received_at = models.DateTimeField(help_text="When opsgov fetched it.")
    sender = models.CharField(max_length=300, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    #: The sender's Date header, shown as data; the clocks use received_at.
    sent_header = models.CharField(max_length=100, blank=True)
    outcome = models.CharField(max_length=12, choices=InboundOutcome.choices)
    ticket = models.ForeignKey(Ticket, on_delete=models.SET_NULL, null=True, blank=True, related_name="inbound")
    detail = models.TextField(blank=True)
    size = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.message_id} ({self.outcome})"


class MailboxState(TimeStampedModel):
    """The support mailbox's last fetch (one row): what the gate reads as "fetched recently"."""

    name = models.CharField(max_length=50, unique=True, default="support")
    last_fetch_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    fetched = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.name


class MailKind(models.TextChoices):
    ACK = "ack", "Acknowledgement"
    REPLY = "reply", "Agent reply"
    SURVEY = "survey", "Satisfaction survey"
    BREACH = "breach", "SLA breach notice"
    FOLLOW_UP = "follow_up", "Low rating follow-up"
    NPS = "nps", "NPS survey"
    CONFIRMATION = "confirm", "Request confirmation"


class OutgoingEmail(OutboxMessage):
    """A support e-mail to send, delivered through opsgov.outbox (claimed once, retried with backoff)."""

    kind = models.CharField(max_length=10, choices=MailKind.choices)
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, null=True, blank=True, related_name="emails")
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True)
    to = models.CharField(max_length=300)
    subject = models.CharField(max_length=400)
    text = models.TextField()
    html = models.TextField(blank=True)
    message_id = models.CharField(max_length=300, unique=True)
    in_reply_to = models.CharField(max_length=300, blank=True)
    references = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The sweeper (opsgov.outbox.Outbox.due) and threading lookups by Message-ID.
            models.Index(fields=["status", "next_attempt_at"], name="outgoingemail_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.to}"
