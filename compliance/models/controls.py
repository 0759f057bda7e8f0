"""Controls, their live-evidence bindings and their manual evidence files."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from opsgov.models import Service, TimeStampedModel
from opsgov.policy import get_policy

from .frameworks import Requirement


class TestFrequency(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    SEMIANNUAL = "semiannual", "Every six months"
    ANNUAL = "annual", "Yearly"

    @property
    def months(self) -> int:
        return {"monthly": 1, "quarterly": 3, "semiannual": 6, "annual": 12}[self.value]


class ControlStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IMPLEMENTED = "implemented", "Implemented"
    RETIRED = "retired", "Retired"


class Control(TimeStampedModel):
    """A safeguard the organisation runs, mapped to the requirements it meets (many to many)."""

    ref_id = models.CharField(max_length=50, unique=True)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    requirements = models.ManyToManyField(Requirement, related_name="controls", blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="owned_controls"
    )
    services = models.ManyToManyField(Service, related_name="controls", blank=True)
    test_frequency = models.CharField(max_length=12, choices=TestFrequency.choices, default=TestFrequency.ANNUAL)
    status = models.CharField(max_length=12, choices=ControlStatus.choices, default=ControlStatus.IMPLEMENTED)
    is_key = models.BooleanField(default=False, help_text="Key controls need current evidence for the gate.")

    class Meta:
        ordering = ["ref_id"]

    def __str__(self) -> str:
        return f"{self.ref_id} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("admin:compliance_control_change", args=[self.pk])


class EvidenceBinding(TimeStampedModel):
    """Live evidence: a control reads a named provider (opsgov.evidence_providers) for a scope."""

    control = models.ForeignKey(Control, on_delete=models.CASCADE, related_name="bindings")
    provider = models.CharField(max_length=100, help_text="Key of a registered evidence provider.")
    scope = models.CharField(max_length=300, blank=True, help_text="What the provider reads (see its help).")
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["control", "provider", "scope"]
        constraints = [
            models.UniqueConstraint(fields=["control", "provider", "scope"], name="binding_once_per_control"),
        ]

    def __str__(self) -> str:
        return f"{self.control.ref_id} ← {self.provider}({self.scope})"


class ReviewState(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


def evidence_upload_to(instance: EvidenceFile, filename: str) -> str:
    return f"compliance/evidence/{instance.sha256[:2]}/{instance.sha256}"


class EvidenceFile(TimeStampedModel):
    """A file supporting a control: hashed, dated by what it is about, reviewed, expiring; revisions chain.

    A revision is a new row whose `previous` is the one it replaces; rows are never deleted
    (opsgov.evidence). It counts for its control while approved, not superseded and not expired.
    """

    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="evidence_files")
    title = models.CharField(max_length=300)
    file = models.FileField(upload_to=evidence_upload_to, max_length=300)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    effective_date = models.DateField(help_text="The day the evidence is about (not the upload day).")
    expires_on = models.DateField(null=True, blank=True, help_text="Empty: the policy's evidence_valid_for.")
    state = models.CharField(max_length=10, choices=ReviewState.choices, default=ReviewState.DRAFT)
    revision = models.PositiveIntegerField(default=1)
    previous = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="next_revision"
    )
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    class Meta:
        ordering = ["control", "-effective_date", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_on__isnull=True) | Q(expires_on__gt=F("effective_date")),
                name="evidencefile_expires_after_effective",
            ),
            models.CheckConstraint(
                condition=Q(reviewed_by__isnull=True) | ~Q(reviewed_by=F("uploaded_by")),
                name="evidencefile_not_self_reviewed",
            ),
        ]
        indexes = [
            # compliance.selectors.current_evidence_files: approved rows by control.
            models.Index(fields=["control", "expires_on"], name="evidence_approved_idx", condition=Q(state="approved")),
        ]
        permissions = [("approve_evidencefile", "Can approve or reject evidence files")]

    def __str__(self) -> str:
        return f"{self.title} (r{self.revision})"

    def valid_until(self) -> date:
        if self.expires_on is not None:
            return self.expires_on
        days = get_policy().compliance.evidence_valid_for.approximate(business_day_hours=24).days
        return date.fromordinal(self.effective_date.toordinal() + days)


class ControlEvidenceSnapshot(TimeStampedModel):
    """A control's evidence as computed at `computed_at`: current or not, its current files, its live readings.

    What the status report reads, so it counts 1,000 controls with a few queries instead of reading every
    provider and file per request. Refreshed (compliance.services.evidence_snapshots_refresh) by each
    evaluation of the compliance gate and whenever a control, its bindings or its files change; the
    report shows the instant it is as of. Derived data: it may be dropped and recomputed at any time.
    """

    control = models.OneToOneField(
        Control, on_delete=models.CASCADE, primary_key=True, related_name="evidence_snapshot"
    )
    is_current = models.BooleanField()
    file_count = models.PositiveIntegerField(help_text="Approved, unexpired, not superseded evidence files.")
    readings = models.JSONField(default=list, help_text='Live evidence in binding order: [["provider", "freshness"]].')
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.control.ref_id} as of {self.computed_at:%Y-%m-%d %H:%M}"
