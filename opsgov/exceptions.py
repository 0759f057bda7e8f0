"""One exception concept: request, approve, revoke and the validity of every four-eyes exception.

Gate waivers (opsgov.gates.waivers), compliance exceptions (compliance.services) and security risk
acceptances are the same thing: someone asks that a rule not count for a while, states why and what
covers the risk meanwhile, and names an approver who holds an approver role and is not the requester;
it counts from that approval until it expires (at most a year after it was asked for) or is revoked,
and time alone expires it (its state is computed from its dates, never stored). Their models derive
:class:`opsgov.models.FourEyesException` (the columns, ``state_at``, ``is_valid``) and their services
call the functions here, which hold the rules and their messages:

- :func:`request_errors`: what is wrong with a request (approver role, four eyes, expiry), by field;
  the caller adds its own scope checks, raises, and saves the row;
- :func:`approve`: the named approver, holding an approver role, not the requester, approves a pending one;
- :func:`revoke`: a pending or active one is withdrawn with a reason;
- :func:`is_valid`, :func:`state_filter`: whether one counts, which ones are in a state (as a query).

Each caller passes its approver roles (a gate's, the policy's compliance or security roles) and its
noun ("waiver", "exception", "risk acceptance") for the messages. The functions do not open a
transaction of their own: they run inside the caller's service function (one transaction per call),
which locks the row first.

Why one abstract base and not one table
---------------------------------------
A single ``Exception`` table in core would hold all three, but the sealed audit trail (opsgov.audit:
hash-chained rows that must never change) already points at ``opsgov.GateWaiver`` rows by content type
and id, and the gate engine, pages and API read that table. Moving the waivers into a new table means a
core data migration that rewrites those references (and breaks the seals) or leaves two sources of
truth. The scopes also differ (a gate check and service; a control, requirement or service; a security
finding) and each app's table is protected by its own foreign keys. So the concept is shared as an
abstract model and one module of rules: one definition of the columns, the state and the checks, while
each table stays where its records and references are. GateWaiver keeps its table unchanged (it
redeclares the base's columns with its own help texts and reverse names), so no migration was needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet

from .models import FourEyesException, WaiverState

#: The longest any exception may run: a year, after which the rule must be met or excepted anew.
MAX_DURATION = timedelta(days=365)

E = TypeVar("E", bound=FourEyesException)


def user_roles(user: Any) -> set[str]:
    """The role (group) names `user` holds; read once per user object."""
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_opsgov_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._opsgov_roles = cached  # one query per request, however many checks
    return set(cached)


def approver_role(user: Any, roles: Sequence[str]) -> str | None:
    """The first of `roles` an active `user` holds (in the order given), or None."""
    if user is None or not getattr(user, "is_active", False):
        return None
    held = user_roles(user)
    return next((role for role in roles if role in held), None)


def _article(noun: str) -> str:
    return "An" if noun[:1].lower() in "aeiou" else "A"


def request_errors(
    *,
    approver: Any,
    requested_by: Any,
    roles: Sequence[str],
    expires_at: datetime | None,
    now: datetime,
    noun: str,
    longest: timedelta = MAX_DURATION,
) -> dict[str, list[str]]:
    """What is wrong with a request, by field: the approver (a role holder, not the requester) and the
    expiry (in the future, at most `longest` and never more than a year ahead). Empty when it is fine."""
    errors: dict[str, list[str]] = {}
    longest = min(longest, MAX_DURATION)
    if approver_role(approver, roles) is None:
        errors.setdefault("approver", []).append(f"The approver must hold one of these roles: {', '.join(roles)}.")
    elif approver.pk == getattr(requested_by, "pk", None):
        errors.setdefault("approver", []).append(f"You cannot approve your own {noun}; name another approver.")
    if expires_at is None or expires_at <= now:
        errors.setdefault("expires_at", []).append("The expiry must be in the future.")
    elif expires_at > now + longest:
        errors.setdefault("expires_at", []).append(
            f"{_article(noun)} {noun} runs at most {longest.days} days; choose an earlier expiry."
        )
    return errors


def approve(record: E, *, actor: Any, roles: Sequence[str], now: datetime, noun: str) -> E:
    """The named approver approves a pending `record` (locked by the caller); saved. PermissionDenied for
    anybody else (the requester, another user, an approver who lost the role), ValidationError if not pending."""
    if actor is None or getattr(actor, "pk", None) == record.requested_by_id:
        raise PermissionDenied(f"Nobody can approve their own {noun}.")
    if actor.pk != record.approver_id:
        raise PermissionDenied("Only the approver the request names can approve it.")
    if approver_role(actor, roles) is None:
        raise PermissionDenied(f"Approving needs one of these roles: {', '.join(roles)}.")
    state = record.state_at(now)
    if state != WaiverState.PENDING:
        raise ValidationError(
            {
                "state": f"Only {_article(noun).lower()} {noun} awaiting approval can be approved; "
                f"this one is {state.label.lower()}."
            }
        )
    record.approved_at = now
    record.save(update_fields=["approved_at", "updated_at"])
    return record


def revoke(record: E, *, actor: Any, reason: str, now: datetime, noun: str) -> WaiverState:
    """Withdraw a pending or active `record` (locked by the caller; who may is the caller's rule); saved.
    Returns the state it had, so the caller knows whether something that counted stopped counting."""
    state = record.state_at(now)
    if state not in (WaiverState.PENDING, WaiverState.ACTIVE):
        raise ValidationError({"state": f"This {noun} is already {state.label.lower()}."})
    record.revoked_at = now
    record.revoked_by = actor
    record.revoke_reason = reason.strip()
    record.save(update_fields=["revoked_at", "revoked_by", "revoke_reason", "updated_at"])
    return state


def is_valid(record: FourEyesException, at: datetime) -> bool:
    """Whether `record` counts at `at`: approved, not revoked, not expired."""
    return record.is_valid(at)


def state_filter(states: Iterable[str], *, now: datetime) -> Q:
    """A condition keeping the rows in any of `states` (WaiverState values) at `now`."""
    conditions = {
        WaiverState.PENDING: Q(revoked_at__isnull=True, approved_at__isnull=True, expires_at__gt=now),
        WaiverState.ACTIVE: Q(revoked_at__isnull=True, approved_at__isnull=False, expires_at__gt=now),
        WaiverState.EXPIRED: Q(revoked_at__isnull=True, expires_at__lte=now),
        WaiverState.REVOKED: Q(revoked_at__isnull=False),
    }
    combined = Q()
    for state in states:
        combined |= conditions[WaiverState(state)]
    return combined


def in_state(rows: QuerySet[E], states: Iterable[str], *, now: datetime) -> QuerySet[E]:
    return rows.filter(state_filter(states, now=now))
