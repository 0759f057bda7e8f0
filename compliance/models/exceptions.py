"""Compliance exceptions: an accepted, time-limited departure from a control or requirement.

One exception concept across opsgov (opsgov.exceptions): the columns, the state and four eyes come from
opsgov.models.FourEyesException, shared with the gate waivers; the rules are opsgov.exceptions' (an
approver who is not the requester and holds an approver role, here the policy's
`compliance.exception_approver_roles`; a compensating control; an expiry at most a year ahead). It counts
from approval until it expires or is revoked; time alone expires it. This model adds the scope (control,
requirement or service), a title and the approver's role at request time.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.urls import reverse

from opsgov.models import FourEyesException, Service, four_eyes_constraints

from .controls import Control
from .frameworks import Requirement


class ComplianceException(FourEyesException):
    """An exception for a control, a requirement or a service, approved by a second person."""

    title = models.CharField(max_length=300)
    control = models.ForeignKey(Control, on_delete=models.PROTECT, null=True, blank=True, related_name="exceptions")
    requirement = models.ForeignKey(
        Requirement, on_delete=models.PROTECT, null=True, blank=True, related_name="exceptions"
    )
    service = models.ForeignKey(Service, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    approver_role = models.CharField(max_length=100, help_text="The role under which the approver approves.")

    class Meta:
        ordering = ["expires_at", "pk"]
        constraints = [
            *four_eyes_constraints("complianceexception"),
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
