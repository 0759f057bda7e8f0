"""Change records (ITIL-shaped), their approvals, the integrations CI sends change events through, and
their links to incidents."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse

from opsgov.models import Service, TimeStampedModel

from .windows import MaintenanceWindow


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ChangeKind(models.TextChoices):
    STANDARD = "standard", "Standard"
    NORMAL = "normal", "Normal"
    EMERGENCY = "emergency", "Emergency"


class ChangeCategory(models.TextChoices):
    """What a change touches: which lead validates it (security patches: the Security Lead)."""

    DEPLOY = "deploy", "Application deploy"
    TECHNICAL = "technical", "Technical change"
    SECURITY_PATCH = "security_patch", "Security patch"
    OS_PATCH = "os_patch", "OS patches"
    DEPENDENCY = "dependency", "Dependency updates"
    DATABASE = "database", "Database maintenance"
    INFRASTRUCTURE = "infrastructure", "Infrastructure update"
    MAJOR_UPGRADE = "major_upgrade", "Major upgrade"


class ChangeState(models.TextChoices):
    NEW = "new", "New"
    ASSESS = "assess", "Assess"
    AUTHORISE = "authorise", "Authorise"
    SCHEDULED = "scheduled", "Scheduled"
    IMPLEMENT = "implement", "Implement"
    REVIEW = "review", "Review"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"

    @property
    def badge(self) -> str:
        return {"closed": "success", "cancelled": "muted", "implement": "warning"}.get(self.value, "info")


#: The order of the states; a change moves one step forward (maintenance.services.advance_change).
STATE_ORDER: tuple[str, ...] = ("new", "assess", "authorise", "scheduled", "implement", "review", "closed")


class ChangeOutcome(models.TextChoices):
    SUCCESSFUL = "successful", "Successful"
    FAILED = "failed", "Failed"
    BACKED_OUT = "backed_out", "Backed out"


class ChangeRisk(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class ApprovalReason(models.TextChoices):
    """Why an approval is needed; each has the role that gives it (maintenance.services.APPROVER_ROLES)."""

    TECHNICAL = "technical", "Technical validation (Tech Lead)"
    SECURITY = "security", "Security patch validation (Security Lead)"
    CONFLICT = "conflict", "Outside its windows or inside a freeze (Product Owner)"
    ERROR_BUDGET = "error_budget", "Error budget spent (SRE Lead)"


class ChangeSource(models.TextChoices):
    MANUAL = "manual", "Recorded in opsgov"
    PAGERDUTY = "pagerduty", "PagerDuty change event"


class ChangeTemplate(TimeStampedModel):
    """A standard change, pre-approved once: a change created from it (maintenance.services.create_change) is of
    kind standard and goes from new to scheduled with no authorisation step (only a conflict with windows or a
    freeze still needs its approval). Usable once approved by the lead who validates its category (the Security
    Lead for security patches, else the Tech Lead); any edit withdraws that approval."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=16, choices=ChangeCategory.choices, default=ChangeCategory.TECHNICAL)
    risk = models.CharField(max_length=8, choices=ChangeRisk.choices, default=ChangeRisk.LOW)
    backout_plan = models.TextField(blank=True)
    services = models.ManyToManyField(Service, related_name="change_templates")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def usable(self) -> bool:
        return self.approved_at is not None and self.retired_at is None


class ChangeRecord(TimeStampedModel):
    """One change to production: what, when (planned and actual), risk, backout plan, approvals, outcome.

    Shown as CHG-<id>. ``outside_window``/``in_freeze`` are computed when the
    change is scheduled (or recorded by CI) and then need a conflict approval;
    ``budget_spent`` asks for the SRE Lead's approval of a normal change.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = models.CharField(max_length=1024)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=ChangeKind.choices, default=ChangeKind.NORMAL)
    category = models.CharField(max_length=16, choices=ChangeCategory.choices, default=ChangeCategory.TECHNICAL)
    state = models.CharField(max_length=16, choices=ChangeState.choices, default=ChangeState.NEW)
    services = models.ManyToManyField(Service, related_name="changes")
    window = models.ForeignKey(
        MaintenanceWindow, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )
    risk = models.CharField(max_length=8, choices=ChangeRisk.choices, default=ChangeRisk.LOW)
    backout_plan = models.TextField(blank=True)
    planned_start = models.DateTimeField(null=True, blank=True)
    planned_end = models.DateTimeField(null=True, blank=True)
    actual_start = models.DateTimeField(null=True, blank=True)
    actual_end = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=ChangeOutcome.choices, blank=True)
    outside_window = models.BooleanField(default=False)
    in_freeze = models.BooleanField(default=False)
    budget_spent = models.BooleanField(default=False)
    source = models.CharField(max_length=16, choices=ChangeSource.choices, default=ChangeSource.MANUAL)
    external_id = models.CharField(max_length=255, blank=True, help_text="The sender's change id, if any.")
    links = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True, help_text="The sender's custom details, as sent.")
    sender_timestamp = models.DateTimeField(
        null=True, blank=True, help_text="payload.timestamp as the sender's clock read it (data, not opsgov's instant)."
    )
    integration = models.ForeignKey(
        "maintenance.ChangeIntegration", null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    template = models.ForeignKey(
        ChangeTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="changes"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(planned_start__isnull=True)
                | models.Q(planned_end__isnull=True)
                | models.Q(planned_start__lt=models.F("planned_end")),
                name="change_planned_start_before_end",
            ),
            # The PagerDuty endpoint records a sender's change id once per integration (re-sent: the same change).
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                condition=~models.Q(external_id=""),
                name="change_external_id_once",
            ),
        ]
        indexes = [
            # Metrics and links read changes by when they happened.
            models.Index(fields=["actual_start"], name="change_actual_start_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.number}: {self.title[:80]}"

    @property
    def number(self) -> str:
        return f"CHG-{self.pk}"

    @property
    def conflicted(self) -> bool:
        return self.outside_window or self.in_freeze

    def get_absolute_url(self) -> str:
        return reverse("maintenance:change-detail", kwargs={"uuid": self.uuid})


class ChangeApproval(models.Model):
    """One approval of a change by a person in the role its reason asks for."""

    change = models.ForeignKey(ChangeRecord, on_delete=models.CASCADE, related_name="approvals")
    reason = models.CharField(max_length=16, choices=ApprovalReason.choices)
    role = models.CharField(max_length=32)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField()
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["approved_at"]
        constraints = [
            models.UniqueConstraint(fields=["change", "reason"], name="change_approval_once_per_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} by {self.approved_by}"


class ChangeIntegration(TimeStampedModel):
    """Where CI sends PagerDuty change events for one service; its routing key is stored hashed."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="change_integrations")
    enabled = models.BooleanField(default=True)
    token_prefix = models.CharField(max_length=8, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_new_token(self) -> str:
        token = secrets.token_hex(16)
        self.token_prefix = token[:8]
        self.token_hash = hash_token(token)
        return token


class ChangeIncidentLink(models.Model):
    """An incident triggered on a service within the policy period after a change on it: a suspected cause."""

    change = models.ForeignKey(ChangeRecord, on_delete=models.CASCADE, related_name="incident_links")
    incident_id = models.PositiveBigIntegerField(help_text="The incident's id (incidents app, linked through core).")
    incident_label = models.CharField(max_length=255, blank=True)
    incident_url = models.CharField(max_length=255, blank=True)
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    triggered_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["triggered_at"]
        constraints = [
            models.UniqueConstraint(fields=["change", "incident_id"], name="change_incident_link_once"),
        ]

    def __str__(self) -> str:
        return f"{self.change.number} -> {self.incident_label or self.incident_id}"
