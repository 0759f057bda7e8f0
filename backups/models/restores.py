"""Restore tests (measured RTO and RPO) and DR plans and drills (issue 14, items 5 and 6)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from opsgov.models import Service

from .jobs import BackupJob


class RestoreResult(models.TextChoices):
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"


class RestoreTest(models.Model):
    """A restore of one backup into a target, verified; RTO = started → verified, RPO = age of the restored data."""

    job = models.ForeignKey(BackupJob, on_delete=models.PROTECT, related_name="restore_tests")
    restore_point = models.CharField(max_length=128, blank=True, help_text="Snapshot id / backup label restored.")
    target = models.CharField(max_length=300)
    steps = models.TextField(blank=True)
    verification = models.TextField(blank=True, help_text="How it was verified: checksums, row counts, ...")
    result = models.CharField(max_length=8, choices=RestoreResult.choices)
    started_at = models.DateTimeField()
    verified_at = models.DateTimeField()
    #: When the restored data was taken (the backup's time): RPO = started_at - data_taken_at.
    data_taken_at = models.DateTimeField(null=True, blank=True)
    rto_seconds = models.FloatField(editable=False)
    rpo_seconds = models.FloatField(null=True, blank=True, editable=False)
    rto_target_seconds = models.FloatField(editable=False)
    rpo_target_seconds = models.FloatField(null=True, blank=True, editable=False)
    evidence = models.JSONField(null=True, blank=True, help_text="e.g. restic restore --json's summary")
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        ordering = ("-verified_at",)

    def __str__(self) -> str:
        return f"{self.job} · restore {self.result} · {self.verified_at:%Y-%m-%d}"

    @property
    def met_rto(self) -> bool:
        return self.rto_seconds <= self.rto_target_seconds

    @property
    def met_rpo(self) -> bool:
        return (
            self.rpo_seconds is None or self.rpo_target_seconds is None or self.rpo_seconds <= self.rpo_target_seconds
        )

    @property
    def met_targets(self) -> bool:
        return self.result == RestoreResult.PASSED and self.met_rto and self.met_rpo


class DRPlan(models.Model):
    service = models.OneToOneField(Service, on_delete=models.PROTECT, related_name="dr_plan")
    body = models.TextField(help_text="Markdown (sanitised when shown).")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"DR plan · {self.service}"


class DRDrill(models.Model):
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="dr_drills")
    scenario = models.CharField(max_length=300)
    held_at = models.DateTimeField()
    participants = models.JSONField(default=list, blank=True, help_text='[{"role": ..., "name": ...}]')
    timeline = models.JSONField(default=list, blank=True, help_text='[{"at": ..., "what": ...}]')
    rto_target_seconds = models.FloatField()
    rpo_target_seconds = models.FloatField()
    rto_achieved_seconds = models.FloatField(null=True, blank=True)
    rpo_achieved_seconds = models.FloatField(null=True, blank=True)
    issues = models.JSONField(default=list, blank=True, help_text="Issues found: each becomes a backlog item.")
    #: The SRE Lead who owns the drill (the seed: the SRE Lead owns, two other roles validate).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_dr_drills",
        help_text="The SRE Lead who owns the drill.",
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-held_at",)

    def __str__(self) -> str:
        return f"DR drill · {self.service} · {self.held_at:%Y-%m-%d}"

    def approval_of(self, kind: str) -> DRDrillApproval | None:
        """The recorded validation of `kind` (reads the prefetched approvals when there are)."""
        return next((approval for approval in self.approvals.all() if approval.kind == kind), None)

    @property
    def validated(self) -> bool:
        """Both validations the seed asks for are recorded (data protection and compliance)."""
        return {approval.kind for approval in self.approvals.all()} >= set(ApprovalKind.values)

    @property
    def met_targets(self) -> bool:
        return (
            self.rto_achieved_seconds is not None
            and self.rpo_achieved_seconds is not None
            and self.rto_achieved_seconds <= self.rto_target_seconds
            and self.rpo_achieved_seconds <= self.rpo_target_seconds
        )


class ApprovalKind(models.TextChoices):
    """What a DR drill's approver validates, and the role that does (SECURITY_LEAD / COMPLIANCE_OFFICER)."""

    DATA_PROTECTION = "data_protection", "Data protection (Security Lead)"
    COMPLIANCE = "compliance", "Compliance (Compliance Officer)"


class DRDrillApproval(models.Model):
    """A validation of a DR drill: who (holding the kind's role, not the drill's owner), in which role, when,
    with a note. One per drill and kind; never changed or deleted (evidence, audited)."""

    drill = models.ForeignKey(DRDrill, on_delete=models.PROTECT, related_name="approvals")
    kind = models.CharField(max_length=16, choices=ApprovalKind.choices)
    role = models.CharField(max_length=64, help_text="The role the approver held when approving.")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ("approved_at", "pk")
        constraints = [models.UniqueConstraint(fields=["drill", "kind"], name="drdrillapproval_one_per_kind")]

    def __str__(self) -> str:
        return f"{self.drill} · {self.get_kind_display()} · {self.approver}"
