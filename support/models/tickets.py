"""Tickets, their conversation, attachments, timeline and SLA clock pauses."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse

from opsgov.models import Service, Team, TimeStampedModel
from opsgov.policy import get_policy

from .contacts import Contact

#: Public numbers start here, so the first ticket is T-1001.
NUMBER_OFFSET = 1000


def validate_priority(value: str) -> None:
    """A priority must be a tier the effective policy defines (P1..P4 by default)."""
    tiers = get_policy().support.tiers
    if value not in tiers:
        raise ValidationError(f"Unknown priority {value!r}; the policy defines {', '.join(tiers)}.")


def priority_choices() -> list[tuple[str, str]]:
    return [(key, f"{key} — {tier.description}") for key, tier in get_policy().support.tiers.items()]


class TicketStatus(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    WAITING = "waiting", "Waiting on customer"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"

    @property
    def badge(self) -> str:
        return {"new": "info", "open": "warning", "waiting": "muted", "resolved": "success", "closed": "muted"}[
            self.value
        ]


OPEN_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.WAITING)


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEB = "web", "Web form"
    API = "api", "API"
    PHONE = "phone", "Phone (entered by an agent)"


class Ticket(TimeStampedModel):
    """A support request from a contact, on a P1-P4 SLA clock (support.sla).

    The due and at-risk instants are stored (recomputed by support.services on every change), so the
    queues and the SLA cycle read indexed columns, never the clock.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    number = models.PositiveIntegerField(unique=True, null=True, blank=True, editable=False)
    subject = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    requester = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="tickets")
    priority = models.CharField(max_length=8, validators=[validate_priority], default="P3")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, null=True, blank=True, related_name="tickets")
    category = models.CharField(max_length=100, blank=True)
    tags = models.JSONField(default=list, blank=True)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.WEB)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="support_tickets"
    )
    team = models.ForeignKey(Team, on_delete=models.PROTECT, null=True, blank=True, related_name="support_tickets")
    status = models.CharField(max_length=10, choices=TicketStatus.choices, default=TicketStatus.NEW)
    opened_at = models.DateTimeField(help_text="When opsgov received the request: the clocks start here.")
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    response_due_at = models.DateTimeField(null=True, blank=True, help_text="Empty while the clock is paused.")
    response_at_risk_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True, help_text="Empty while the clock is paused.")
    resolution_at_risk_at = models.DateTimeField(null=True, blank=True)
    response_breached = models.BooleanField(default=False)
    resolution_breached = models.BooleanField(default=False)
    #: The ServiceAlert key of the incident a P1 ticket is linked to (support.incident_link).
    incident_key = models.CharField(max_length=200, blank=True)
    incident_resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(resolved_at__gte=models.F("opened_at")),
                name="ticket_resolved_after_opened",
            ),
        ]
        indexes = [
            # The queues (support.selectors.queue) and the SLA cycle (support.services.run_sla_cycle).
            models.Index(fields=["status", "assignee"], name="ticket_status_assignee_idx"),
            # The queue pages: open tickets by resolution due instant (support.selectors.queue).
            models.Index(
                fields=["resolution_due_at", "id"],
                condition=Q(status__in=["new", "open", "waiting"]),
                name="ticket_open_queue_idx",
            ),
            # The "breaching soon" queue (support.selectors.queue_filter): its two halves, OR-ed by a bitmap scan,
            # so counting it reads the open tickets at risk, never the closed history. "at risk IS NOT NULL" keeps
            # them out of the SLA cycle's plans (its queries do not imply it; the queue's "<= now" does), which
            # read ticket_response_due_idx and ticket_resolution_due_idx.
            models.Index(
                fields=["response_at_risk_at"],
                condition=Q(
                    status__in=["new", "open", "waiting"],
                    first_response_at__isnull=True,
                    response_at_risk_at__isnull=False,
                ),
                name="ticket_open_resp_risk_idx",
            ),
            models.Index(
                fields=["resolution_at_risk_at"],
                condition=Q(
                    status__in=["new", "open", "waiting"],
                    resolved_at__isnull=True,
                    resolution_at_risk_at__isnull=False,
                ),
                name="ticket_open_resol_risk_idx",
            ),
            models.Index(
                fields=["response_due_at"],
                condition=Q(first_response_at__isnull=True, response_breached=False),
                name="ticket_response_due_idx",
            ),
            models.Index(
                fields=["resolution_due_at"],
                condition=Q(resolved_at__isnull=True, resolution_breached=False),
                name="ticket_resolution_due_idx",
            ),
            models.Index(fields=["status", "resolved_at"], name="ticket_status_resolved_idx"),
            models.Index(fields=["incident_key"], condition=~Q(incident_key=""), name="ticket_incident_key_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.subject}"

    @property
    def public_id(self) -> str:
        return f"T-{self.number}" if self.number else "T-?"

    @property
    def tag(self) -> str:
        """The subject tag replies thread on: "[T-1042]"."""
        return f"[{self.public_id}]"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def get_absolute_url(self) -> str:
        return reverse("support-ticket-detail", kwargs={"number": self.number})


class MessageKind(models.TextChoices):
    CUSTOMER = "customer", "Customer message"
    REPLY = "reply", "Public reply"
    NOTE = "note", "Internal note"


class TicketMessage(TimeStampedModel):
    """One entry of a ticket's conversation: the customer's messages, agents' public replies, internal notes."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=10, choices=MessageKind.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, null=True, blank=True)
    body = models.TextField()
    at = models.DateTimeField()
    #: The e-mail Message-ID this entry arrived with or was sent with (threading).
    message_id = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["message_id"], condition=~Q(message_id=""), name="ticketmsg_msgid_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.ticket.public_id}"

    @property
    def is_public(self) -> bool:
        return self.kind != MessageKind.NOTE


class Attachment(TimeStampedModel):
    """A file that came with a message: stored under its content hash, or refused with the reason."""

    message = models.ForeignKey(TicketMessage, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, blank=True)
    refused_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.filename

    @property
    def stored_name(self) -> str:
        return f"support/{self.sha256[:2]}/{self.sha256}" if self.sha256 else ""


class TicketEventKind(models.TextChoices):
    CREATED = "created", "Created"
    STATUS = "status", "Status"
    PRIORITY = "priority", "Priority"
    ASSIGN = "assign", "Assignment"
    MESSAGE = "message", "Message"
    SLA = "sla", "SLA"
    MAIL = "mail", "E-mail"
    INCIDENT = "incident", "Incident"
    SURVEY = "survey", "Survey"
    ARTICLE = "article", "Knowledge base"


class TicketEvent(models.Model):
    """The ticket's timeline: every change, in order (append-only)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    kind = models.CharField(max_length=10, choices=TicketEventKind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    message = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.kind}: {self.message}"


class PauseReason(models.TextChoices):
    WAITING = "waiting", "Waiting on customer"
    RESOLVED = "resolved", "Resolved (until reopened)"


class ClockPause(models.Model):
    """A stretch during which the ticket's SLA clocks did not run (an open pause has no end)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="pauses")
    reason = models.CharField(max_length=10, choices=PauseReason.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="clockpause_ends_after_start",
            ),
            # At most one running pause per ticket (support.services opens and closes them).
            models.UniqueConstraint(fields=["ticket"], condition=Q(ended_at__isnull=True), name="clockpause_one_open"),
        ]

    def __str__(self) -> str:
        return f"{self.reason} {self.started_at:%Y-%m-%d %H:%M}"


class SlaClock(models.TextChoices):
    RESPONSE = "response", "First response"
    RESOLUTION = "resolution", "Resolution"


class SlaBreach(TimeStampedModel):
    """A missed target, recorded once per ticket and clock, with the notification to the team lead."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="breaches")
    clock = models.CharField(max_length=10, choices=SlaClock.choices)
    due_at = models.DateTimeField()
    breached_at = models.DateTimeField(help_text="When opsgov recorded the breach.")
    notified_to = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-breached_at"]
        constraints = [models.UniqueConstraint(fields=["ticket", "clock"], name="slabreach_once_per_clock")]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.clock} breach"
