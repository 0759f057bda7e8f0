"""Awareness training: courses assigned by role, and who completed them when.

Assignment is by role: every active user in one of a course's roles is assigned it, due
``due_within_days`` after the later of the course's start and the user's joining. A completion
counts for ``recurrence`` (empty: for good); after that the course is due again at once.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models

from opsgov.models import TimeStampedModel
from opsgov.policy import Span


def validate_span(value: str) -> None:
    try:
        Span.parse(value)
    except ValueError as exc:
        raise ValidationError(str(exc).splitlines()[-1]) from None


class Course(TimeStampedModel):
    """An awareness course (phishing, secure coding, data protection...) for an audience."""

    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    audience = models.SlugField(
        max_length=40, default="security", help_text="Whose programme it belongs to: security, compliance, ..."
    )
    roles = models.ManyToManyField(Group, related_name="security_courses", help_text="Roles that must take it.")
    recurrence = models.CharField(
        max_length=40, blank=True, validators=[validate_span], help_text="e.g. '12 months'; empty: once."
    )
    due_within_days = models.PositiveIntegerField(default=30, help_text="Days a newly assigned person has.")
    starts_at = models.DateTimeField(help_text="When assignments begin.")
    active = models.BooleanField(default=True)
    url = models.URLField(blank=True, help_text="Where the course is taken (learning system).")

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def recurrence_span(self) -> Span | None:
        return Span.parse(self.recurrence) if self.recurrence else None


class CompletionSource(models.TextChoices):
    MANUAL = "manual", "By hand"
    CSV = "csv", "CSV import"


class TrainingRecord(TimeStampedModel):
    """One person's completion of one course at an instant (by hand or from a learning system's export)."""

    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="records")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="training_records")
    completed_at = models.DateTimeField()
    source = models.CharField(max_length=8, choices=CompletionSource.choices, default=CompletionSource.MANUAL)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-completed_at", "-id"]
        constraints = [
            # Re-importing the same export records nothing twice.
            models.UniqueConstraint(fields=["course", "user", "completed_at"], name="security_training_record_once"),
        ]
        indexes = [models.Index(fields=["course", "user", "-completed_at"], name="security_training_latest_idx")]

    def __str__(self) -> str:
        return f"{self.user} completed {self.course} at {self.completed_at:%Y-%m-%d}"
