"""Records of the quality gates: their evaluations, waivers of failing checks, and status-change emails.

The rules live in opsgov.gates (the engine in opsgov.gates.services, waivers in opsgov.gates.waivers).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from .core import Service
from .exceptions import FourEyesException, four_eyes_constraints
from .outbox import OutboxMessage

#: How a waiver (or an evidence row) without a service is shown, wherever its service would be.
ORGANISATION_WIDE = "organisation-wide"


class GateStatus(models.TextChoices):
    PASS = "pass", "Pass"
    AT_RISK = "at_risk", "At risk"
    FAIL = "fail", "Fail"
    NO_EVIDENCE = "no_evidence", "No evidence"
    # Set by the gate engine, never by a gate: an evidence row covered by an active
    # waiver, or a gate whose only problems are waived (opsgov.gates.services). Never a pass.
    WAIVED = "waived", "Waived"

    @property
    def badge(self) -> str:
        return {
            "pass": "success",
            "at_risk": "warning",
            "fail": "danger",
            "no_evidence": "muted",
            "waived": "info",
        }[self.value]


class GateEvaluation(models.Model):
    """One evaluation of a quality gate: status, reason and the evidence behind it (history)."""

    gate = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=GateStatus.choices)
    reason = models.CharField(max_length=500)
    evidence = models.JSONField(default=list, blank=True)
    evaluated_at = models.DateTimeField(default=timezone.now)
    previous_status = models.CharField(
        max_length=16,
        choices=GateStatus.choices,
        blank=True,
        help_text="The status of the gate's evaluation before this one; empty for its first evaluation.",
    )
    status_changed = models.BooleanField(
        default=False, help_text="The status differs from the previous evaluation's (or this is the first one)."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["gate", "-evaluated_at"]
        indexes = [
            # selectors.latest_gate_evaluations and the gate history page.
            models.Index(fields=["gate", "-evaluated_at"], name="gate_eval_latest_idx"),
            # The gate page's timeline: only the evaluations where the status changed.
            models.Index(
                fields=["gate", "-evaluated_at"], name="gate_eval_changes_idx", condition=models.Q(status_changed=True)
            ),
        ]
        permissions = [("run_gate_evaluation", "Can re-evaluate a quality gate on demand")]

    def __str__(self) -> str:
        return f"{self.gate}: {self.status} at {self.evaluated_at:%Y-%m-%d %H:%M}"

    @property
    def status_badge(self) -> str:
        return GateStatus(self.status).badge


class GateWaiver(FourEyesException):
    """A time-limited exception for one failing check of a quality gate, on one service or organisation-wide.

    The check is an evidence row, named by the gate's key, the row's stable
    `evidence_key` (opsgov.registry.Evidence.key) and its service: `service` is
    null for an organisation-wide row (one about no service, such as the
    security gate's "training" or "access-review"). The waiver counts only once
    approved by the named approver (a holder of the gate's approver role, never
    the requester) and until it expires or is revoked; while it counts, the
    gate engine shows the row as "waived" (never as pass) and leaves it out of
    the gate's status. Every change is in the audit trail.
    """

    gate = models.CharField(max_length=64, help_text="Key of the quality gate (e.g. incident_management).")
    evidence_key = models.CharField(
        max_length=200, help_text='Stable key of the evidence row waived, e.g. "escalation:checkout".'
    )
    service = models.ForeignKey(
        Service,
        on_delete=models.PROTECT,
        related_name="gate_waivers",
        null=True,
        blank=True,
        help_text="The service of the row waived; empty for an organisation-wide row (one about no service).",
    )
    # The base's columns, redeclared with the help texts and reverse names this table always had (no migration).
    reason = models.TextField(help_text="Why the check cannot be met now.")
    compensating_control = models.TextField(help_text="What covers the risk while the check is waived.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="gate_waivers_requested"
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="gate_waivers_to_approve",
        help_text="Who must approve: a holder of the gate's approver role, not the requester.",
    )
    expires_at = models.DateTimeField(help_text="The waiver stops counting at this time (at most a year ahead).")
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="gate_waivers_revoked",
        null=True,
        blank=True,
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Four eyes: nobody approves their own waiver (opsgov.exceptions checks it first, with a message).
            *four_eyes_constraints("gatewaiver"),
        ]
        indexes = [
            # The gate engine reads the waivers still open (not revoked) of the gates it evaluates, and a request
            # looks for an open waiver of the same (gate, service) check, service null for an organisation-wide one
            # (IS NULL is an index condition too).
            models.Index(fields=["gate", "service"], name="gatewaiver_open_idx", condition=Q(revoked_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"Waiver #{self.pk} of {self.gate} / {self.evidence_key}"

    @property
    def service_label(self) -> str:
        """The service's name, or "organisation-wide" for a waiver of a row about no service."""
        return self.service.name if self.service is not None else ORGANISATION_WIDE

    def get_absolute_url(self) -> str:
        return reverse("gate-detail", kwargs={"key": self.gate}) + f"#waiver-{self.pk}"


class GateNotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class GateNotification(OutboxMessage):
    """One email telling one destination that a gate's status changed (one row per change and address).

    A change is identified by the evaluation it replaced (`previous_evaluation`):
    two evaluations racing from the same previous one create the same rows once
    (unique constraint), and delivery claims a row with a conditional UPDATE, so
    a retried task or a sweeper never sends a message twice (opsgov.outbox: a failed
    attempt waits for its retry as "pending").
    """

    gate = models.CharField(max_length=64)
    evaluation = models.ForeignKey(GateEvaluation, on_delete=models.CASCADE, related_name="notifications")
    previous_evaluation = models.ForeignKey(
        GateEvaluation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    team = models.ForeignKey("opsgov.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    destination = models.EmailField()
    status = models.CharField(
        max_length=16, choices=GateNotificationStatus.choices, default=GateNotificationStatus.PENDING
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["previous_evaluation", "destination"], name="gatenotification_once_per_change"
            ),
        ]
        indexes = [
            # The sweeper (opsgov.gates.services.due_notification_evaluations) reads only rows not yet done.
            models.Index(
                fields=["next_attempt_at"],
                name="gatenotification_due_idx",
                condition=Q(status__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.gate} change to {self.destination}: {self.status}"
