"""Incident lifecycle: the only code that changes incidents. One transaction per call.

Status moves forward only: triggered -> acknowledged -> mitigated -> resolved
(any open status may also be resolved directly, or cancelled as a false alarm).
Going back is an explicit reopen, which is recorded. Each call validates its
instant (never before the trigger, never in the future) so metrics stay sound,
takes a row lock so concurrent calls cannot interleave, and appends to the
incident's timeline.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from opsgov.errors import DomainError
from opsgov.events import IncidentResolved, publish_incident_resolved
from opsgov.models import Service
from opsgov.policy import get_policy

from . import maintenance_links
from .models import (
    OPEN_STATUSES,
    Incident,
    IncidentStatus,
    Integration,
    TimelineEvent,
    TimelineKind,
)
from .oncall import escalation
from .reviews.services import require_review

# Clock skew tolerated between a client's timestamps and ours.
FUTURE_TOLERANCE = timedelta(minutes=5)

Actor = AbstractBaseUser | AnonymousUser | None

_ALLOWED: dict[str, set[str]] = {
    IncidentStatus.TRIGGERED: {
        IncidentStatus.ACKNOWLEDGED,
        IncidentStatus.MITIGATED,
        IncidentStatus.RESOLVED,
        IncidentStatus.CANCELLED,
    },
    IncidentStatus.ACKNOWLEDGED: {IncidentStatus.MITIGATED, IncidentStatus.RESOLVED, IncidentStatus.CANCELLED},
    IncidentStatus.MITIGATED: {IncidentStatus.RESOLVED, IncidentStatus.CANCELLED},
    IncidentStatus.RESOLVED: set(),
    IncidentStatus.CANCELLED: set(),
}

_TIME_FIELD = {
    IncidentStatus.ACKNOWLEDGED: "acknowledged_at",
    IncidentStatus.MITIGATED: "mitigated_at",
    IncidentStatus.RESOLVED: "resolved_at",
    IncidentStatus.CANCELLED: "cancelled_at",
}

EDITABLE_FIELDS = ("title", "summary", "severity", "commander", "customer_impact")


class TransitionError(DomainError):
    """A status change the lifecycle does not allow (reported on the `status` field)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="status")


def _user(actor: Actor) -> Any:
    return actor if actor is not None and actor.is_authenticated else None


def _instant(
    at: datetime | None, *, not_before: datetime | None, field: str = "at", what: str = "the incident was triggered"
) -> datetime:
    now = timezone.now()
    at = at or now
    if timezone.is_naive(at):
        raise DomainError("A time zone is required (e.g. 2026-11-20T10:15:30Z).", field=field)
    if at > now + FUTURE_TOLERANCE:
        raise DomainError(f"{at.isoformat()} is in the future.", field=field)
    if not_before is not None and at < not_before:
        raise DomainError(f"{at.isoformat()} is before {what} ({not_before.isoformat()}).", field=field)
    return at


def _log(
    incident: Incident,
    kind: str,
    *,
    at: datetime,
    actor: Actor = None,
    message: str = "",
    data: dict[str, Any] | None = None,
) -> TimelineEvent:
    return TimelineEvent.objects.create(
        incident=incident, kind=kind, at=at, actor=_user(actor), message=message, data=data or {}
    )


def _locked(incident: Incident) -> Incident:
    return Incident.objects.select_for_update().get(pk=incident.pk)


@transaction.atomic
def incident_create(
    *,
    title: str,
    service: Service,
    severity: str,
    summary: str = "",
    triggered_at: datetime | None = None,
    actor: Actor = None,
    customer_impact: bool = False,
    commander: Any = None,
    integration: Integration | None = None,
    dedup_key: str = "",
    impacted_services: Iterable[Service] = (),
    signal: dict[str, Any] | None = None,
) -> Incident:
    """Open a new incident (status triggered) and start its timeline."""
    triggered_at = _instant(triggered_at, not_before=None, field="triggered_at")
    incident = Incident(
        title=title,
        summary=summary,
        service=service,
        severity=severity,
        triggered_at=triggered_at,
        customer_impact=customer_impact,
        commander=commander,
        integration=integration,
        dedup_key=dedup_key,
    )
    incident.full_clean(validate_constraints=False)
    incident.save()
    if impacted_services:
        incident.impacted_services.set([s for s in impacted_services if s.pk != service.pk])
    source = f" from {integration}" if integration else ""
    _log(incident, TimelineKind.TRIGGERED, at=triggered_at, actor=actor, message=f"Triggered{source}", data=signal)
    escalation.start(incident)  # the response target and the escalation policy's first step
    return incident


def _transition(
    incident: Incident, target: IncidentStatus, *, actor: Actor, at: datetime | None, message: str = ""
) -> Incident:
    incident = _locked(incident)
    if target not in _ALLOWED[incident.status]:
        current = IncidentStatus(incident.status).label
        hint = " Reopen it first." if incident.status in (IncidentStatus.RESOLVED, IncidentStatus.CANCELLED) else ""
        raise TransitionError(
            f"{incident.public_id} is {current.lower()}; it cannot become {target.label.lower()}.{hint}"
        )
    last_change = max(t for t in (incident.triggered_at, incident.acknowledged_at, incident.mitigated_at) if t)
    what = "the incident was triggered" if last_change == incident.triggered_at else "its last status change"
    when = _instant(at, not_before=last_change, what=what)
    previous = incident.status
    incident.status = target
    setattr(incident, _TIME_FIELD[target], when)
    incident.save(update_fields=["status", _TIME_FIELD[target], "updated_at"])
    escalation.on_transition(incident, at=when)  # records the response on acknowledge; stops escalating
    _log(
        incident,
        TimelineKind.STATUS,
        at=when,
        actor=actor,
        message=message or f"{target.label}",
        data={"from": previous, "to": target.value},
    )
    return incident


@transaction.atomic
def incident_acknowledge(*, incident: Incident, actor: Actor = None, at: datetime | None = None) -> Incident:
    incident = _transition(incident, IncidentStatus.ACKNOWLEDGED, actor=actor, at=at)
    if incident.commander_id is None and _user(actor) is not None:
        incident.commander = _user(actor)
        incident.save(update_fields=["commander", "updated_at"])
    return incident


@transaction.atomic
def incident_mitigate(
    *, incident: Incident, actor: Actor = None, at: datetime | None = None, message: str = ""
) -> Incident:
    return _transition(incident, IncidentStatus.MITIGATED, actor=actor, at=at, message=message)


@transaction.atomic
def incident_resolve(
    *, incident: Incident, actor: Actor = None, at: datetime | None = None, message: str = "", review: bool = True
) -> Incident:
    """Resolve; for the policy's review severities a draft review is due (`review=False` for imported history)."""
    incident = _transition(incident, IncidentStatus.RESOLVED, actor=actor, at=at, message=message)
    if review:
        require_review(incident=incident)  # a draft review for the policy's review severities; idempotent
    # Other apps' records linked to the incident (support tickets of a P1) hear of it (opsgov.events).
    publish_incident_resolved(
        IncidentResolved(
            incident_id=incident.pk,
            public_id=incident.public_id,
            service_id=incident.service_id,
            keys=(incident.dedup_key,) if incident.dedup_key else (),
            at=incident.resolved_at or timezone.now(),
        )
    )
    return incident


@transaction.atomic
def incident_cancel(*, incident: Incident, actor: Actor = None, at: datetime | None = None, reason: str) -> Incident:
    """Close a false alarm; cancelled incidents are excluded from every metric."""
    if not reason.strip():
        raise DomainError("Say why this is a false alarm.", field="reason")
    return _transition(incident, IncidentStatus.CANCELLED, actor=actor, at=at, message=f"Cancelled: {reason}")


@transaction.atomic
def incident_reopen(*, incident: Incident, actor: Actor = None, at: datetime | None = None, reason: str) -> Incident:
    """Bring a resolved or cancelled incident back; the earlier closing is kept in the timeline."""
    if not reason.strip():
        raise DomainError("Say why the incident is reopened.", field="reason")
    incident = _locked(incident)
    if incident.is_open:
        raise TransitionError(f"{incident.public_id} is still open.")
    if incident.dedup_key and incident.integration_id:
        clash = (
            Incident.objects.filter(
                integration_id=incident.integration_id,
                service_id=incident.service_id,
                dedup_key=incident.dedup_key,
                status__in=OPEN_STATUSES,
            )
            .exclude(pk=incident.pk)
            .first()
        )
        if clash is not None:
            raise TransitionError(f"{clash.public_id} is already open for the same alert; work on that one.")
    closed_at = incident.resolved_at or incident.cancelled_at
    when = _instant(at, not_before=closed_at or incident.triggered_at, what="it was closed")
    previous = incident.status
    incident.status = IncidentStatus.ACKNOWLEDGED if incident.acknowledged_at else IncidentStatus.TRIGGERED
    incident.resolved_at = incident.mitigated_at = incident.cancelled_at = None
    incident.reopen_count += 1
    incident.save()
    if incident.status == IncidentStatus.TRIGGERED:
        escalation.start(incident, at=when)  # nobody ever acknowledged it: wake people again from level 1
    _log(
        incident,
        TimelineKind.REOPENED,
        at=when,
        actor=actor,
        message=f"Reopened: {reason}",
        data={"from": previous, "closed_at": closed_at.isoformat() if closed_at else None},
    )
    return incident


@transaction.atomic
def incident_add_note(
    *, incident: Incident, message: str, actor: Actor = None, at: datetime | None = None
) -> TimelineEvent:
    if not message.strip():
        raise DomainError("A note needs some text.", field="message")
    when = _instant(at, not_before=incident.triggered_at)
    return _log(incident, TimelineKind.NOTE, at=when, actor=actor, message=message)


@transaction.atomic
def incident_update(*, incident: Incident, data: dict[str, Any], actor: Actor = None) -> Incident:
    """Change descriptive fields (title, summary, severity, commander, customer impact), each change logged."""
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    incident = _locked(incident)
    changes = {}
    for field, value in data.items():
        before = getattr(incident, field)
        if before != value:
            changes[field] = [str(before) if before is not None else None, str(value) if value is not None else None]
            setattr(incident, field, value)
    if not changes:
        return incident
    if "severity" in changes and incident.acknowledged_at is None:
        incident.response_due_at = escalation.response_due(incident)  # the new severity's target
    incident.full_clean(validate_constraints=False)
    incident.save()
    if (
        "severity" in changes
        and incident.status == IncidentStatus.TRIGGERED
        and incident.escalation_level == 0
        and incident.next_escalation_at is None
        and incident.severity in get_policy().maintenance.pages_during_maintenance
        and maintenance_links.was_held(incident)
    ):
        # Paging was held back during maintenance; the new severity pages even then.
        escalation.start(incident, hold=False)
    now = timezone.now()
    for field, (before, after) in changes.items():
        _log(
            incident,
            TimelineKind.FIELD,
            at=now,
            actor=actor,
            message=f"{field.replace('_', ' ').capitalize()}: {before} → {after}",
            data={"field": field, "before": before, "after": after},
        )
    return incident


@transaction.atomic
def integration_create(
    *,
    name: str,
    kind: str,
    service: Service,
    severity_mapping: dict[str, str] | None = None,
    default_severity: str = "SEV-3",
    auto_resolve: bool = True,
    enabled: bool = True,
    routing_label: str = "",
) -> tuple[Integration, str]:
    """Create an integration; returns it with its token, which is shown once and stored hashed.

    An empty `routing_label` becomes the kind's default (service; payload.component for Events v2).
    """
    integration = Integration(
        name=name,
        kind=kind,
        service=service,
        severity_mapping=severity_mapping or {},
        default_severity=default_severity,
        auto_resolve=auto_resolve,
        enabled=enabled,
        routing_label=routing_label,
    )
    token = integration.set_new_token()
    integration.full_clean()
    integration.save()
    return integration, token


@transaction.atomic
def integration_rotate_token(*, integration: Integration) -> str:
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    token = integration.set_new_token()
    integration.save(update_fields=["token_prefix", "token_hash", "updated_at"])
    return token


INTEGRATION_FIELDS = (
    "name",
    "service",
    "enabled",
    "severity_mapping",
    "default_severity",
    "auto_resolve",
    "routing_label",
)


@transaction.atomic
def integration_update(*, integration: Integration, data: dict[str, Any]) -> Integration:
    unknown = set(data) - set(INTEGRATION_FIELDS)
    if unknown:
        raise DomainError(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    for field, value in data.items():
        setattr(integration, field, value)
    integration.full_clean()
    integration.save()
    return integration


@transaction.atomic
def integration_delete(*, integration: Integration) -> None:
    """Delete an integration that never received anything; one with history must be disabled instead."""
    if integration.raw_events.exists():
        raise DomainError(
            f"{integration.name} has received events, which would be deleted with it; disable it instead.",
            field="enabled",
        )
    integration.delete()
