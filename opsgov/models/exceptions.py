"""The one exception concept of opsgov: an accepted, time-limited departure from a rule, with four eyes.

Gate waivers (opsgov.GateWaiver), compliance exceptions (compliance.ComplianceException) and security
risk acceptances share these columns and this life cycle; the rules that write them live in one module,
opsgov.exceptions. Why one abstract base and not one table, see that module's docstring.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from .core import TimeStampedModel


class WaiverState(models.TextChoices):
    """Where an exception stands; computed from its dates, never stored (time alone turns active into expired)."""

    PENDING = "pending", "Awaiting approval"
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"

    @property
    def badge(self) -> str:
        return {"pending": "warning", "active": "info", "expired": "muted", "revoked": "muted"}[self.value]


class FourEyesException(TimeStampedModel):
    """Abstract base: reason, compensating control, requester, named approver, approval, expiry, revocation.

    It counts (``is_valid``) from approval by the named approver (never the requester) until it expires
    or is revoked. A subclass adds its scope (a gate check and service, a control, a finding) and may
    redeclare a column to keep its own help text or reverse name (GateWaiver does, so its table and
    migration state stay as they were). Its Meta should carry :func:`four_eyes_constraints`.
    """

    reason = models.TextField(help_text="Why the rule cannot be met now (the justification).")
    compensating_control = models.TextField(help_text="What covers the risk meanwhile.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who must approve: a holder of an approver role, not the requester.",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(help_text="It stops counting at this time (at most a year ahead).")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    revoke_reason = models.TextField(blank=True)

    class Meta:
        abstract = True

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

    def is_valid(self, moment: datetime | None = None) -> bool:
        """Whether it counts at `moment`: approved, not revoked, not expired."""
        return self.state_at(moment) == WaiverState.ACTIVE


def four_eyes_constraints(prefix: str) -> list[models.BaseConstraint]:
    """The database's share of the rules: nobody approves their own; it expires after it was asked for."""
    return [
        models.CheckConstraint(condition=~Q(approver=F("requested_by")), name=f"{prefix}_not_self_approved"),
        models.CheckConstraint(condition=Q(expires_at__gt=F("created_at")), name=f"{prefix}_expires_after_start"),
    ]
