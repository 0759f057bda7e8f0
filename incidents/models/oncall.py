"""On-call schedules, escalation policies and notifications (seed step 2: who gets woken)."""

from __future__ import annotations

from datetime import time
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from opsgov.models import OutboxMessage, Service, Team, TimeStampedModel

from .incidents import Incident


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_time_zone(value: str) -> None:
    # A name zoneinfo does not list is refused before ZoneInfo() opens a file by that name (a name too
    # long for the file system was an OSError, a 500).
    try:
        if value not in _time_zones():
            raise ZoneInfoNotFoundError(value)
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"Unknown time zone {value!r}; use an IANA name such as 'Europe/Berlin'.") from None


class Schedule(TimeStampedModel):
    """An on-call schedule: layers of rotations, overridden by one-off overrides, in one time zone."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="schedules")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("schedule-detail", kwargs={"slug": self.slug})


class RotationKind(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    HOURS = "hours", "Every N hours"


class ScheduleLayer(TimeStampedModel):
    """A rotation of people through shifts. Where several layers cover an instant, the one with
    the highest `priority` wins; overrides win over every layer.

    Daily and weekly shifts hand off at `handoff_time` local time (weekly on `handoff_weekday`),
    so they follow DST; "every N hours" shifts are N real hours long from `rotation_start`.
    An optional restriction limits the layer to some hours of some weekdays (local time).
    """

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="layers")
    name = models.CharField(max_length=120)
    priority = models.PositiveSmallIntegerField(default=1, help_text="Higher wins where layers overlap.")
    rotation_kind = models.CharField(max_length=8, choices=RotationKind.choices, default=RotationKind.WEEKLY)
    rotation_hours = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Shift length for 'hours'.")
    rotation_start = models.DateTimeField(help_text="When the first member's first shift starts.")
    handoff_time = models.TimeField(default=time(9), help_text="Local time of the handoff (daily and weekly).")
    handoff_weekday = models.PositiveSmallIntegerField(
        default=0, help_text="Weekday of the handoff for weekly rotations (0 = Monday)."
    )
    ends_at = models.DateTimeField(null=True, blank=True, help_text="The layer stops covering from here.")
    restrict_weekdays = models.JSONField(
        default=list,
        blank=True,
        help_text="Weekdays (0 = Monday) on which a coverage window starts (an overnight window "
        "belongs to the day it starts); empty means every day.",
    )
    restrict_start = models.TimeField(null=True, blank=True, help_text="Daily coverage starts (local time).")
    restrict_end = models.TimeField(null=True, blank=True, help_text="Daily coverage ends (local time).")

    class Meta:
        ordering = ["schedule", "-priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(rotation_kind="hours") | Q(rotation_hours__gte=1),
                name="layer_hours_rotation_has_length",
            ),
            models.CheckConstraint(condition=Q(handoff_weekday__lte=6), name="layer_handoff_weekday_valid"),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("rotation_start")), name="layer_ends_after_start"
            ),
            models.CheckConstraint(
                condition=(Q(restrict_start__isnull=True) & Q(restrict_end__isnull=True))
                | (Q(restrict_start__isnull=False) & Q(restrict_end__isnull=False)),
                name="layer_restriction_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.schedule}: {self.name}"

    def clean(self) -> None:
        days = self.restrict_weekdays
        if not isinstance(days, list) or any(not isinstance(d, int) or not 0 <= d <= 6 for d in days):
            raise ValidationError({"restrict_weekdays": "A list of weekday numbers 0 (Monday) to 6 (Sunday)."})
        if self.restrict_start is not None and self.restrict_start == self.restrict_end:
            raise ValidationError({"restrict_end": "The restriction must not start and end at the same time."})


class LayerMember(models.Model):
    """A person's place in a layer's rotation order."""

    layer = models.ForeignKey(ScheduleLayer, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["layer", "position"]
        constraints = [
            models.UniqueConstraint(fields=["layer", "position"], name="layer_member_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.layer} #{self.position}: {self.user}"


class ScheduleOverride(TimeStampedModel):
    """Someone takes the schedule for a while (swap, holiday cover); wins over every layer."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["schedule", "starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="override_ends_after_start"),
        ]
        indexes = [models.Index(fields=["schedule", "ends_at"], name="override_schedule_end_idx")]

    def __str__(self) -> str:
        return f"{self.user} on {self.schedule} {self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at:%Y-%m-%d %H:%M}"


class EscalationPolicy(TimeStampedModel):
    """Who is notified, in which order, while an incident stays unacknowledged."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    services: models.ManyToManyField[Service, ServiceEscalation] = models.ManyToManyField(
        Service, through="ServiceEscalation", related_name="escalation_policies"
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("escalation-policy-detail", kwargs={"slug": self.slug})


class ServiceEscalation(models.Model):
    """The escalation policy of a service (one per service)."""

    service = models.OneToOneField(Service, on_delete=models.CASCADE, related_name="escalation")
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.PROTECT, related_name="service_links")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.service} → {self.policy}"


class EscalationLevel(TimeStampedModel):
    """One step of a policy: notify a schedule's on-call person and/or named users, `delay_minutes`
    after the previous level (level 1's delay counts from the trigger, normally 0)."""

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="levels")
    position = models.PositiveSmallIntegerField(help_text="1 is notified first.")
    delay_minutes = models.PositiveIntegerField(default=0)
    schedule = models.ForeignKey(Schedule, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")

    class Meta:
        ordering = ["policy", "position"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "position"], name="escalation_level_position_unique"),
            models.CheckConstraint(condition=Q(position__gte=1), name="escalation_level_position_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.policy} level {self.position}"


class ChannelKind(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"


class NotificationChannel(TimeStampedModel):
    """Where a person's or a team's notifications go besides their account email:
    an email address or an outgoing webhook (JSON, signed with HMAC-SHA256)."""

    kind = models.CharField(max_length=8, choices=ChannelKind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="notification_channels"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="notification_channels"
    )
    address = models.EmailField(blank=True, help_text="For email channels.")
    url = models.URLField(blank=True, help_text="For webhook channels.")
    secret = models.CharField(max_length=128, blank=True, help_text="Webhook signing key (HMAC-SHA256 over the body).")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["kind", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(team__isnull=True))
                | (Q(user__isnull=True) & Q(team__isnull=False)),
                name="channel_user_xor_team",
            ),
            models.CheckConstraint(
                condition=(Q(kind="email") & ~Q(address="")) | (Q(kind="webhook") & ~Q(url="")),
                name="channel_has_destination",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.address or self.url} for {self.user or self.team}"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    RETRYING = "retrying", "Retrying"
    FAILED = "failed", "Failed"


class Notification(OutboxMessage):
    """One message to one destination about one incident (an escalation level, a status change).

    Delivery is claimed with a conditional update, so two workers never send it twice; failures
    are retried with backoff and recorded, never blocking the incident flow (opsgov.outbox).
    """

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=8, choices=ChannelKind.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.ForeignKey(
        NotificationChannel, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    destination = models.CharField(max_length=500, help_text="Email address or webhook URL at sending time.")
    level = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Escalation level, if any.")
    reason = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The delivery sweeper: notifications due to be (re)tried.
            models.Index(
                fields=["next_attempt_at"],
                name="notification_due_idx",
                condition=Q(status__in=["pending", "retrying"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.destination} about {self.incident_id} ({self.status})"
