"""Waivers of failing gate checks: request, approve, revoke (writes), and the reads their pages need.

Rules
-----
- A waiver covers one failing (or at-risk) evidence row of a gate: the row's
  stable key and service, as the gate's latest evaluation shows them. A row
  about no service (an organisation-wide check, e.g. the security gate's
  "training") is waived with no service (`service` None); every failing row
  with a key can be waived. Rows without a key cannot (nothing names them
  from one evaluation to the next).
- The rules every four-eyes exception shares (approver role, four eyes,
  expiry, approve, revoke, state) are opsgov.exceptions'; this module adds the
  gate's scope (a waivable check of the latest evaluation) and re-evaluation.
- It names an approver: an active user holding one of the gate's approver roles
  (`Gate.waiver_approver_roles()`, the role the seed names for the area), never
  the requester. Only that approver can approve it, and only while they still
  hold the role; a superuser is not an approver unless they hold the role.
- It states a reason and a compensating control, and expires: `expires_at` is
  required, in the future, at most `MAX_WAIVER_DURATION` ahead.
- It counts (opsgov.gates.services.apply_waivers) from approval until it expires
  or is revoked; one open (pending or active) waiver per check and service,
  or per check for an organisation-wide one (checked here, under a lock of
  the gate's latest evaluation, so two requests made against the same
  evaluation cannot both pass the check).
- Approving or revoking re-evaluates the gate in the same transaction, so the
  gate's status and its owners' email follow at once.
- Every change is in the audit trail (auditlog, registered in opsgov.apps).

Every function is one transaction and validates before writing; problems are
ValidationError with field names (400 in the API) or PermissionDenied (403).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .. import exceptions
from ..exceptions import user_roles
from ..models import GateEvaluation, GateWaiver, Service, WaiverState
from ..registry import Gate, gates
from . import services

#: The longest a waiver may run: a year (opsgov.exceptions.MAX_DURATION), then met or waived anew.
MAX_WAIVER_DURATION = exceptions.MAX_DURATION
__all__ = ["MAX_WAIVER_DURATION", "user_roles"]  # re-exported: apps read them here


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
    """The rows of an evaluation a waiver can name: failing or at risk, with a key (and a service or none)."""
    if evaluation is None:
        return []
    return [row for row in evaluation.evidence or [] if row.get("key") and row.get("status") in services.WAIVABLE]


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
    return exceptions.in_state(waivers, states, now=now)


@transaction.atomic
def waiver_request(
    *,
    gate: str,
    evidence_key: str,
    service: Service | None = None,
    reason: str,
    compensating_control: str,
    approver: Any,
    expires_at: datetime,
    requested_by: Any,
    now: datetime | None = None,
) -> GateWaiver:
    """Ask `approver` to waive one failing check of `gate` until `expires_at` (`service` None: organisation-wide)."""
    now = now or timezone.now()
    definition = _gate(gate)
    errors: dict[str, list[str]] = {}
    latest = services.previous_evaluation(gate)
    if latest is not None:
        # Requests for the same gate wait for each other here, so the open-waiver check below sees the other's
        # row (NO KEY: an evaluation's notifications, which reference it, are not held up).
        list(GateEvaluation.objects.select_for_update(no_key=True).filter(pk=latest.pk).values_list("pk"))
    slug = service.slug if service is not None else ""
    if not any(row["key"] == evidence_key and (row.get("service") or "") == slug for row in waivable_rows(latest)):
        errors.setdefault("evidence_key", []).append(
            f"The latest evaluation of {definition.title!r} has no failing or at-risk check {evidence_key!r} "
            + (f"for {service.slug}" if service is not None else "about no service (organisation-wide)")
            + "; only such a check can be waived."
        )
    for field, messages in exceptions.request_errors(
        approver=approver,
        requested_by=requested_by,
        roles=definition.waiver_approver_roles(),
        expires_at=expires_at,
        now=now,
        noun="waiver",
    ).items():
        errors.setdefault(field, []).extend(messages)
    # filter(service=None) is "service IS NULL": one open waiver per organisation-wide check too.
    if open_waivers(gate=gate, now=now).filter(evidence_key=evidence_key, service=service).exists():
        errors.setdefault("evidence_key", []).append(
            "This check already has an open waiver for this service; revoke it first."
            if service is not None
            else "This organisation-wide check already has an open waiver; revoke it first."
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
    # OF self: the service is an outer join now that it may be null, and only the waiver's row is to be locked.
    return GateWaiver.objects.select_for_update(of=("self",)).select_related("service").get(pk=waiver.pk)


@transaction.atomic
def waiver_approve(*, waiver: GateWaiver, actor: Any, now: datetime | None = None) -> GateWaiver:
    """The named approver approves a pending waiver; the gate is re-evaluated with it at once."""
    now = now or timezone.now()
    waiver = _locked(waiver)
    definition = _gate(waiver.gate)
    exceptions.approve(waiver, actor=actor, roles=definition.waiver_approver_roles(), now=now, noun="waiver")
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
    state = exceptions.revoke(waiver, actor=actor, reason=reason, now=now, noun="waiver")
    if state == WaiverState.ACTIVE and waiver.gate in gates:
        services.evaluate_gate(gate=gates.get(waiver.gate), now=now)
    return waiver
