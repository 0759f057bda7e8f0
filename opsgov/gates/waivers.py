"""Waivers of failing gate checks: request, approve, revoke (writes), and the reads their pages need.

Rules
-----
- A waiver covers one failing (or at-risk) evidence row of a gate for one
  service: the row's stable key and service, as the gate's latest evaluation
  shows them. Rows without a key or a service cannot be waived.
- It names an approver: an active user holding one of the gate's approver roles
  (`Gate.waiver_approver_roles()`, the role the seed names for the area), never
  the requester. Only that approver can approve it, and only while they still
  hold the role; a superuser is not an approver unless they hold the role.
- It states a reason and a compensating control, and expires: `expires_at` is
  required, in the future, at most `MAX_WAIVER_DURATION` ahead.
- It counts (opsgov.gates.services.apply_waivers) from approval until it expires
  or is revoked; one open (pending or active) waiver per check and service.
- Approving or revoking re-evaluates the gate in the same transaction, so the
  gate's status and its owners' email follow at once.
- Every change is in the audit trail (auditlog, registered in opsgov.apps).

Every function is one transaction and validates before writing; problems are
ValidationError with field names (400 in the API) or PermissionDenied (403).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from ..models import GateEvaluation, GateWaiver, Service, WaiverState
from ..registry import Gate, gates
from . import services

#: The longest a waiver may run: a year, after which the check must be met or waived anew.
MAX_WAIVER_DURATION = timedelta(days=365)


def user_roles(user: Any) -> set[str]:
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_opsgov_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._opsgov_roles = cached  # one query per request, however many checks
    return set(cached)


def is_approver(user: Any, gate: Gate) -> bool:
    """Whether `user` holds one of the roles that approve waivers of `gate`."""
    return bool(getattr(user, "is_active", False) and user_roles(user) & set(gate.waiver_approver_roles()))


def approver_candidates(gate: Gate) -> QuerySet[Any]:
    """Active users who hold one of the gate's approver roles, by name."""
    return (
        get_user_model()
        .objects.filter(groups__name__in=gate.waiver_approver_roles(), is_active=True)
        .distinct()
        .order_by("username")
    )


def _gate(key: str) -> Gate:
    if key not in gates:
        raise ValidationError({"gate": f"No quality gate {key!r} is registered."})
    return gates.get(key)


def waivable_rows(evaluation: GateEvaluation | None) -> list[dict[str, Any]]:
    """The rows of an evaluation a waiver can name: failing or at risk, with a key and a service."""
    if evaluation is None:
        return []
    return [
        row
        for row in evaluation.evidence or []
        if row.get("key") and row.get("service") and row.get("status") in services.WAIVABLE
    ]


def open_waivers(*, gate: str | None = None, now: datetime | None = None) -> QuerySet[GateWaiver]:
    """Waivers not revoked and not expired (pending or active), with what a list shows."""
    now = now or timezone.now()
    waivers = GateWaiver.objects.filter(revoked_at__isnull=True, expires_at__gt=now)
    if gate is not None:
        waivers = waivers.filter(gate=gate)
    return waivers.select_related("service", "requested_by", "approver").order_by("expires_at", "pk")


def waiver_list() -> QuerySet[GateWaiver]:
    return GateWaiver.objects.select_related("service", "requested_by", "approver", "revoked_by").order_by(
        "-created_at", "-pk"
    )


def filter_state(waivers: QuerySet[GateWaiver], states: Iterable[str], *, now: datetime) -> QuerySet[GateWaiver]:
    """Keep the waivers in any of `states` (WaiverState values) at `now`."""
    conditions = {
        WaiverState.PENDING: Q(revoked_at__isnull=True, approved_at__isnull=True, expires_at__gt=now),
        WaiverState.ACTIVE: Q(revoked_at__isnull=True, approved_at__isnull=False, expires_at__gt=now),
        WaiverState.EXPIRED: Q(revoked_at__isnull=True, expires_at__lte=now),
        WaiverState.REVOKED: Q(revoked_at__isnull=False),
    }
    combined = Q()
    for state in states:
        combined |= conditions[WaiverState(state)]
    return waivers.filter(combined)


@transaction.atomic
def waiver_request(
    *,
    gate: str,
    evidence_key: str,
    service: Service,
    reason: str,
    compensating_control: str,
    approver: Any,
    expires_at: datetime,
    requested_by: Any,
    now: datetime | None = None,
) -> GateWaiver:
    """Ask `approver` to waive one failing check of `gate` for `service` until `expires_at`."""
    now = now or timezone.now()
    definition = _gate(gate)
    errors: dict[str, list[str]] = {}
    latest = services.previous_evaluation(gate)
    rows = waivable_rows(latest)
    if not any(row["key"] == evidence_key and row["service"] == service.slug for row in rows):
        errors.setdefault("evidence_key", []).append(
            f"The latest evaluation of {definition.title!r} has no failing or at-risk check {evidence_key!r} "
            f"for {service.slug}; only such a check can be waived."
        )
    if approver is None or not is_approver(approver, definition):
        errors.setdefault("approver", []).append(
            f"The approver must hold one of these roles: {', '.join(definition.waiver_approver_roles())}."
        )
    elif approver.pk == getattr(requested_by, "pk", None):
        errors.setdefault("approver", []).append("You cannot approve your own waiver; name another approver.")
    if expires_at is None or expires_at <= now:
        errors.setdefault("expires_at", []).append("The expiry must be in the future.")
    elif expires_at > now + MAX_WAIVER_DURATION:
        errors.setdefault("expires_at", []).append(
            f"A waiver runs at most {MAX_WAIVER_DURATION.days} days; choose an earlier expiry."
        )
    if open_waivers(gate=gate, now=now).filter(evidence_key=evidence_key, service=service).exists():
        errors.setdefault("evidence_key", []).append(
            "This check already has an open waiver for this service; revoke it first."
        )
    if errors:
        raise ValidationError(errors)
    waiver = GateWaiver(
        gate=gate,
        evidence_key=evidence_key,
        service=service,
        reason=reason.strip(),
        compensating_control=compensating_control.strip(),
        approver=approver,
        expires_at=expires_at,
        requested_by=requested_by,
        created_at=now,
    )
    waiver.full_clean()
    waiver.save()
    return waiver


def _locked(waiver: GateWaiver) -> GateWaiver:
    return GateWaiver.objects.select_for_update().select_related("service").get(pk=waiver.pk)


@transaction.atomic
def waiver_approve(*, waiver: GateWaiver, actor: Any, now: datetime | None = None) -> GateWaiver:
    """The named approver approves a pending waiver; the gate is re-evaluated with it at once."""
    now = now or timezone.now()
    waiver = _locked(waiver)
    definition = _gate(waiver.gate)
    if actor is None or getattr(actor, "pk", None) == waiver.requested_by_id:
        raise PermissionDenied("Nobody can approve their own waiver.")
    if actor.pk != waiver.approver_id:
        raise PermissionDenied("Only the approver the request names can approve it.")
    if not is_approver(actor, definition):
        raise PermissionDenied(f"Approving needs one of these roles: {', '.join(definition.waiver_approver_roles())}.")
    state = waiver.state_at(now)
    if state != WaiverState.PENDING:
        raise ValidationError(
            {"state": f"Only a waiver awaiting approval can be approved; this one is {state.label.lower()}."}
        )
    waiver.approved_at = now
    waiver.save(update_fields=["approved_at", "updated_at"])
    services.evaluate_gate(gate=definition, now=now)
    return waiver


def can_revoke(user: Any, waiver: GateWaiver) -> bool:
    """The requester, the approver, or any holder of the gate's approver roles may revoke an open waiver."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.pk in (waiver.requested_by_id, waiver.approver_id):
        return True
    return waiver.gate in gates and is_approver(user, gates.get(waiver.gate))


@transaction.atomic
def waiver_revoke(*, waiver: GateWaiver, actor: Any, reason: str = "", now: datetime | None = None) -> GateWaiver:
    """Withdraw a pending or active waiver; an active one stops counting at once (the gate is re-evaluated)."""
    now = now or timezone.now()
    waiver = _locked(waiver)
    if not can_revoke(actor, waiver):
        raise PermissionDenied("Only the requester, the approver or a holder of the gate's approver role can revoke.")
    state = waiver.state_at(now)
    if state not in (WaiverState.PENDING, WaiverState.ACTIVE):
        raise ValidationError({"state": f"This waiver is already {state.label.lower()}."})
    waiver.revoked_at = now
    waiver.revoked_by = actor
    waiver.revoke_reason = reason.strip()
    waiver.save(update_fields=["revoked_at", "revoked_by", "revoke_reason", "updated_at"])
    if state == WaiverState.ACTIVE and waiver.gate in gates:
        services.evaluate_gate(gate=gates.get(waiver.gate), now=now)
    return waiver
