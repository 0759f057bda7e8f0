"""Security alerts: a triage queue fed by Falco, a generic JSON webhook and opsgov's own signals."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from opsgov.models import Service, TimeStampedModel

from .findings import Severity


class AlertSource(models.TextChoices):
    FALCO = "falco", "Falco"
    WEBHOOK = "webhook", "Webhook"
    OPSGOV = "opsgov", "opsgov"


class AlertStatus(models.TextChoices):
    NEW = "new", "New"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    TRIAGED = "triaged", "Triaged"
    CLOSED = "closed", "Closed"


class Disposition(models.TextChoices):
    TRUE_POSITIVE = "true_positive", "True positive"
    BENIGN = "benign", "Benign"
    FALSE_POSITIVE = "false_positive", "False positive"


class SecurityAlert(TimeStampedModel):
    """One alert in the triage queue. `received_at` is opsgov's instant (MTTA counts from it); the
    sender's `reported_at` is data to show."""

    source = models.CharField(max_length=16, choices=AlertSource.choices)
    rule = models.CharField(max_length=300, help_text="Falco rule, webhook rule name or opsgov signal.")
    title = models.CharField(max_length=500)
    priority = models.CharField(max_length=32, blank=True, help_text="The sender's priority, as sent.")
    severity = models.CharField(max_length=8, choices=Severity.choices)
    output = models.TextField(blank=True)
    hostname = models.CharField(max_length=255, blank=True)
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, null=True, blank=True, related_name="security_alerts"
    )
    fields = models.JSONField(default=dict, blank=True, help_text="output_fields / details as sent.")
    payload = models.JSONField(help_text="The alert as received.")
    reported_at = models.DateTimeField(null=True, blank=True, help_text="The sender's clock (shown only).")
    received_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.NEW)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    triaged_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    disposition = models.CharField(max_length=16, choices=Disposition.choices, blank=True)
    notes = models.TextField(blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True, help_text="When it was escalated to an incident.")
    escalation_key = models.CharField(max_length=200, blank=True, help_text="The incident's dedup key.")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["status", "received_at"], name="security_alert_queue_idx")]

    def __str__(self) -> str:
        return f"{self.get_source_display()}: {self.title}"
