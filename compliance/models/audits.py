"""Audits (internal and external), their per-control test results, and the findings they raise."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from opsgov.models import Service, TimeStampedModel

from .controls import Control
from .frameworks import Framework, Requirement


class AuditKind(models.TextChoices):
    INTERNAL = "internal", "Internal"
    EXTERNAL = "external", "External"


class AuditStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"


class Audit(TimeStampedModel):
    """An audit of a framework (or a subset of its requirements) over a period, led by an auditor."""

    title = models.CharField(max_length=300)
    kind = models.CharField(max_length=10, choices=AuditKind.choices, default=AuditKind.INTERNAL)
    framework = models.ForeignKey(Framework, on_delete=models.PROTECT, related_name="audits")
    requirements = models.ManyToManyField(
        Requirement, blank=True, related_name="audits", help_text="Scope subset; empty means the whole framework."
    )
    services = models.ManyToManyField(Service, blank=True, related_name="audits")
    period_start = models.DateField()
    period_end = models.DateField()
    lead_auditor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="led_audits")
    external_auditors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="external_audits", help_text="Read-only guest accounts."
    )
    access_expires_at = models.DateTimeField(null=True, blank=True, help_text="External auditors' access ends here.")
    status = models.CharField(max_length=12, choices=AuditStatus.choices, default=AuditStatus.PLANNED)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_end", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(period_start__lte=F("period_end")), name="audit_period_ordered"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("admin:compliance_audit_change", args=[self.pk])


class TestMethod(models.TextChoices):
    INQUIRY = "inquiry", "Inquiry"
    INSPECTION = "inspection", "Inspection"
    OBSERVATION = "observation", "Observation"
    REPERFORMANCE = "reperformance", "Re-performance"


class TestOutcome(models.TextChoices):
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class TestResult(TimeStampedModel):
    """The result of testing one control in an audit."""

    audit = models.ForeignKey(Audit, on_delete=models.PROTECT, related_name="test_results")
    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="test_results")
    method = models.CharField(max_length=14, choices=TestMethod.choices)
    sample = models.CharField(max_length=300, blank=True, help_text="What was sampled (e.g. 5 of 40 restore tests).")
    result = models.CharField(max_length=14, choices=TestOutcome.choices)
    notes = models.TextField(blank=True)
    tested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    tested_at = models.DateTimeField()

    class Meta:
        ordering = ["audit", "control"]
        constraints = [
            models.UniqueConstraint(fields=["audit", "control"], name="testresult_once_per_audit_control"),
        ]

    def __str__(self) -> str:
        return f"{self.control.ref_id}: {self.get_result_display()}"


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


class FindingStatus(models.TextChoices):
    IDENTIFIED = "identified", "Identified"
    PLANNED = "planned", "Remediation planned"
    IN_PROGRESS = "in_progress", "In progress"
    REMEDIATED = "remediated", "Remediated"
    VERIFIED = "verified", "Verified"
    CLOSED = "closed", "Closed"


OPEN_FINDING_STATUSES = (
    FindingStatus.IDENTIFIED,
    FindingStatus.PLANNED,
    FindingStatus.IN_PROGRESS,
    FindingStatus.REMEDIATED,
)


class Finding(TimeStampedModel):
    """A gap an audit found (or an imported OSCAL assessment result): due by the policy's SLA for its severity."""

    audit = models.ForeignKey(Audit, on_delete=models.PROTECT, related_name="findings", null=True, blank=True)
    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="findings", null=True, blank=True)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="owned_findings"
    )
    identified_at = models.DateTimeField()
    due_at = models.DateTimeField(help_text="From the policy's finding SLA for the severity.")
    status = models.CharField(max_length=12, choices=FindingStatus.choices, default=FindingStatus.IDENTIFIED)
    remediated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    remediated_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True, help_text="When it was escalated as overdue.")
    oscal_uuid = models.UUIDField(null=True, blank=True, unique=True, help_text="Set for imported OSCAL findings.")

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [
            # Four eyes: the verifier is not the remediator (compliance.services checks it first, with a message).
            models.CheckConstraint(
                condition=Q(verified_by__isnull=True) | ~Q(verified_by=F("remediated_by")),
                name="finding_verified_by_another",
            ),
        ]
        indexes = [
            # compliance.selectors.overdue_findings and the escalation task.
            models.Index(
                fields=["due_at"],
                name="finding_open_due_idx",
                condition=Q(status__in=["identified", "planned", "in_progress", "remediated"]),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("admin:compliance_finding_change", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_FINDING_STATUSES


class RemediationStep(TimeStampedModel):
    """One step of a finding's remediation plan."""

    finding = models.ForeignKey(Finding, on_delete=models.PROTECT, related_name="steps")
    description = models.CharField(max_length=500)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    due_on = models.DateField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["finding", "due_on", "pk"]

    def __str__(self) -> str:
        return self.description
