"""Compliance exceptions: an accepted, time-limited departure from a control or requirement.

Same rules as the gate waivers of core (opsgov.gates.waivers): a named approver who is not the
requester and holds an approver role (here the policy's `compliance.exception_approver_roles`),
a compensating control, an expiry at most a year ahead; it counts from approval until it expires
or is revoked, and its state is computed from its dates (time alone expires it).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from opsgov.models import Service, TimeStampedModel, WaiverState

from .controls import Control
from .frameworks import Requirement


class ComplianceException(TimeStampedModel):
    """An exception for a control, a requirement or a service, approved by a second person."""

    title = models.CharField(max_length=300)
    control = models.ForeignKey(Control, on_delete=models.PROTECT, null=True, blank=True, related_name="exceptions")
    requirement = models.ForeignKey(
        Requirement, on_delete=models.PROTECT, null=True, blank=True, related_name="exceptions"
    )
    service = models.ForeignKey(Service, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    justification = models.TextField()
    compensating_control = models.TextField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approver_role = models.CharField(max_length=100, help_text="The role under which the approver approves.")
    approved_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoke_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["expires_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(approver=F("requested_by")), name="complianceexception_four_eyes"),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="complianceexception_expires_after_start"
            ),
            models.CheckConstraint(
                condition=Q(control__isnull=False) | Q(requirement__isnull=False) | Q(service__isnull=False),
                name="complianceexception_has_scope",
            ),
        ]
        permissions = [("approve_complianceexception", "Can approve compliance exceptions (with an approver role)")]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("admin:compliance_complianceexception_change", args=[self.pk])

    def state_at(self, moment: datetime | None = None) -> WaiverState:
        moment = moment or timezone.now()
        if self.revoked_at is not None:
            return WaiverState.REVOKED
        if self.expires_at <= moment:
            return WaiverState.EXPIRED
        if self.approved_at is None:
            return WaiverState.PENDING
        return WaiverState.ACTIVE

    @property
    def state(self) -> WaiverState:
        return self.state_at()
