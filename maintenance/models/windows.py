"""Maintenance windows and freeze periods: when changes may, and may not, happen."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from opsgov.models import Service, TimeStampedModel

from .. import recurrence


class RecurrenceKind(models.TextChoices):
    ONCE = "once", "Once"
    RRULE = "rrule", "Recurrence rule (RFC 5545)"
    CRON = "cron", "Cron expression"


class WindowQuerySet(models.QuerySet["MaintenanceWindow"]):
    def active(self) -> WindowQuerySet:
        """The windows that count: approved by a Product Owner and not withdrawn."""
        return self.filter(approved_at__isnull=False, withdrawn_at__isnull=True)


class MaintenanceWindow(TimeStampedModel):
    """A recurring (or one-off) stretch of time in which a group of services may be changed.

    Active only once a Product Owner approved it (the seed's "Approvals"); an
    edit of what it covers or when (maintenance.services.edit_window) withdraws
    the approval until a Product Owner approves it again. A withdrawn window
    (maintenance.services.withdraw_window) no longer counts anywhere.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120)
    services = models.ManyToManyField(Service, related_name="maintenance_windows")
    kind = models.CharField(max_length=8, choices=RecurrenceKind.choices, default=RecurrenceKind.RRULE)
    first_start = models.DateTimeField(help_text="The first start; its local wall time in `timezone` repeats.")
    rrule = models.CharField(max_length=500, blank=True, help_text="RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=SU.")
    cron = models.CharField(max_length=120, blank=True, help_text="5-field cron of the starts, e.g. 0 2 * * 0.")
    timezone = models.CharField(max_length=64, default="UTC")
    duration = models.DurationField(help_text="How long each occurrence lasts.")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    withdraw_reason = models.TextField(blank=True)

    objects = WindowQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(duration__gt=timedelta(0)), name="window_positive_duration"),
            models.CheckConstraint(condition=models.Q(kind__in=["once", "rrule", "cron"]), name="window_kind_valid"),
        ]
        indexes = [
            # The gate and conflict checks read approved windows only.
            models.Index(
                fields=["approved_at"], name="window_approved_idx", condition=models.Q(approved_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_approved(self) -> bool:
        return self.approved_at is not None

    @property
    def is_active(self) -> bool:
        return self.approved_at is not None and self.withdrawn_at is None

    def clean(self) -> None:
        try:
            tz = recurrence.zone(self.timezone)
        except recurrence.RecurrenceError as error:
            raise ValidationError({"timezone": str(error)}) from None
        if self.duration is not None and self.duration <= timedelta(0):
            raise ValidationError({"duration": "A window lasts a positive time."})
        if self.duration is not None and self.duration > timedelta(days=31):
            raise ValidationError({"duration": "A window lasts at most 31 days."})
        if self.first_start is None:
            return
        try:
            if self.kind == RecurrenceKind.RRULE:
                recurrence.parse_rrule(self.rrule, first_start=self.first_start, tz=tz)
            elif self.kind == RecurrenceKind.CRON:
                recurrence.check_cron(self.cron, tz=tz, first_start=self.first_start)
        except recurrence.RecurrenceError as error:
            raise ValidationError({"cron" if self.kind == RecurrenceKind.CRON else "rrule": str(error)}) from None

    def occurrences(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """(start, end) of each occurrence overlapping [start, end), in UTC."""
        tz = recurrence.zone(self.timezone)
        lookback = start - self.duration
        if self.kind == RecurrenceKind.ONCE:
            starts = [self.first_start] if lookback < self.first_start < end else []
        elif self.kind == RecurrenceKind.RRULE:
            starts = list(
                recurrence.rrule_starts(self.rrule, first_start=self.first_start, tz=tz, start=lookback, end=end)
            )
        else:
            starts = [
                moment
                for moment in recurrence.cron_starts(self.cron, tz=tz, start=max(lookback, self.first_start), end=end)
            ]
        return [(s, s + self.duration) for s in starts if s + self.duration > start and s >= self.first_start]

    def get_absolute_url(self) -> str:
        return reverse("maintenance:calendar") + f"#window-{self.uuid}"


#: How a freeze is given: one-off (starts_at, ends_at) or a pair of cron expressions.
FREEZE_KINDS = [("once", "Once"), ("cron", "Cron pair")]


class FreezePeriod(TimeStampedModel):
    """A time in which no normal change may be scheduled: one-off, or recurring as a pair of cron expressions.

    No services means every service.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120)
    services = models.ManyToManyField(Service, blank=True, related_name="freeze_periods")
    kind = models.CharField(max_length=8, choices=FREEZE_KINDS, default="once")
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    freeze_start = models.CharField(max_length=120, blank=True, help_text="Cron of the starts, e.g. 0 18 * * 5.")
    freeze_end = models.CharField(max_length=120, blank=True, help_text="Cron of the ends, e.g. 0 6 * * 1.")
    timezone = models.CharField(max_length=64, default="UTC")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(starts_at__isnull=True)
                | models.Q(ends_at__isnull=True)
                | models.Q(starts_at__lt=models.F("ends_at")),
                name="freeze_starts_before_end",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            tz = recurrence.zone(self.timezone)
        except recurrence.RecurrenceError as error:
            raise ValidationError({"timezone": str(error)}) from None
        if self.kind == "once":
            if self.starts_at is None or self.ends_at is None:
                raise ValidationError({"starts_at": "A one-off freeze needs starts_at and ends_at."})
            if self.starts_at >= self.ends_at:
                raise ValidationError({"ends_at": "A freeze ends after it starts."})
            return
        for field in ("freeze_start", "freeze_end"):
            try:
                recurrence.check_cron(getattr(self, field), tz=tz)
            except recurrence.RecurrenceError as error:
                raise ValidationError({field: str(error)}) from None

    def occurrences(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """(start, end) of each freeze overlapping [start, end), in UTC."""
        if self.kind == "once":
            if self.starts_at is None or self.ends_at is None:
                return []
            return [(self.starts_at, self.ends_at)] if self.starts_at < end and self.ends_at > start else []
        tz = recurrence.zone(self.timezone)
        first = recurrence.cron_previous(self.freeze_start, tz=tz, at=start) or start
        found: list[tuple[datetime, datetime]] = []
        for moment in recurrence.cron_starts(self.freeze_start, tz=tz, start=first, end=end):
            stop = recurrence.cron_next(self.freeze_end, tz=tz, after=moment)
            if stop is not None and stop > start:
                found.append((moment, stop))
        return found
