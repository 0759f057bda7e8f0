"""The seed's maintenance cadences done: one log entry per piece of maintenance performed."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from opsgov.models import Service, TimeStampedModel

from .changes import ChangeRecord


class LogOutcome(models.TextChoices):
    DONE = "done", "Done"
    PARTIAL = "partial", "Partly done"
    FAILED = "failed", "Failed"


class LogSource(models.TextChoices):
    MANUAL = "manual", "Logged by a person"
    AUTOMATION = "automation", "Reported by automation"


class MaintenanceAutomation(TimeStampedModel):
    """A job that does a maintenance activity of a service by itself (a weekly ``VACUUM ANALYZE``) and reports
    through the ping grammar (opsgov.pings): ``/ping/<uuid>`` logs a done occurrence, ``/start`` then an end
    measures its duration, ``/fail`` (or a non-zero exit status) logs a failed one."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="maintenance_automations")
    activity = models.CharField(max_length=64, help_text="A key of the policy's maintenance.activities.")
    enabled = models.BooleanField(default=True)
    #: The run /start opened and not yet ended: when, and its ?rid= (None without one).
    started_at = models.DateTimeField(null=True, blank=True)
    start_rid = models.UUIDField(null=True, blank=True)
    last_ping_at = models.DateTimeField(null=True, blank=True)
    n_pings = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.activity} on {self.service})"


class MaintenanceLog(TimeStampedModel):
    """A maintenance activity of the policy (``maintenance.activities``) performed on a service.

    A ``done`` entry makes the activity's current period done
    (maintenance.selectors.cadence_status); ``duration_flag`` says whether its
    duration fell outside the policy's range when it was recorded.
    """

    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="maintenance_logs")
    activity = models.CharField(max_length=64, help_text="A key of the policy's maintenance.activities.")
    performed_at = models.DateTimeField()
    duration = models.DurationField(
        null=True, blank=True, help_text="How long it took; null when unknown (an automation's end without a start)."
    )
    outcome = models.CharField(max_length=16, choices=LogOutcome.choices, default=LogOutcome.DONE)
    notes = models.TextField(blank=True)
    change = models.ForeignKey(ChangeRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="logs")
    source = models.CharField(max_length=16, choices=LogSource.choices, default=LogSource.MANUAL)
    performed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    automation = models.ForeignKey(
        MaintenanceAutomation, null=True, blank=True, on_delete=models.SET_NULL, related_name="logs"
    )
    duration_flag = models.CharField(
        max_length=8, blank=True, choices=[("short", "Shorter than the policy's range"), ("long", "Longer")]
    )

    class Meta:
        ordering = ["-performed_at"]
        indexes = [models.Index(fields=["service", "activity", "-performed_at"], name="mlog_latest_idx")]

    def __str__(self) -> str:
        return f"{self.activity} on {self.service} at {self.performed_at:%Y-%m-%d}"
