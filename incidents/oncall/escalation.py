"""Escalation and the response target of incidents: who is notified while nobody acknowledges.

Starting (`start`, called by `incidents.services.incident_create` in its transaction)
-------------------------------------------------------------------------------------
- `response_due_at` = the severity's response target counted from the trigger
  on the SLA clock (`opsgov.sla.due_at`): 24x7 for "1 hour", business time
  for SEV-4's "1 business day" (a Friday-afternoon SEV-4 is due on Monday).
- `escalation_policy` = the service's policy (`ServiceEscalation`), if any;
  then `next_escalation_at` = trigger + level 1's delay (normally 0: at once).
  The beat task `incidents.oncall.tasks.escalate_due_incidents` picks due incidents up
  within a minute; for immediacy an `escalate_incident` task is also enqueued
  when the transaction commits. A broker outage never breaks the creation:
  the enqueue is logged and skipped, and the beat task does the work.

One escalation step (`escalate`, one transaction per incident)
--------------------------------------------------------------
A step is identified by what it was scheduled as: (incident, the level last
notified, `next_escalation_at`). It runs only if that is still the incident's
current follow-up, like grafana/oncall's escalate_alert_group:

1. The row is locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` filtered on
   status "triggered", the expected level and the expected
   `next_escalation_at` (which must have come). A row another worker holds is
   skipped: that worker is doing this very step. A row whose level or time
   moved on (the step ran, or acknowledging stopped it) no longer matches.
2. The advance is a conditional UPDATE with the same conditions, and the step
   goes on only if it changed one row. On PostgreSQL the lock already
   guarantees that; on SQLite (no row locks, but IMMEDIATE transactions that
   serialise writers) the conditional UPDATE is what does.

So however many beat runs, immediate tasks and redeliveries (acks_late) race,
each level is notified once. The step then creates one `Notification` per
recipient and destination (see incidents.oncall.notifications), records a timeline
entry for the level, and sets the next level's time (now + its delay; None
after the last level). Deliveries are enqueued on commit, and their own
sweeper retries whatever the broker lost.

The response target
-------------------
Acknowledging records the response: `response_met` is True when acknowledged
by `response_due_at`, False after it. An incident still unacknowledged when
`response_due_at` passes is marked breached (`mark_response_breaches`, run by
the beat task) with a timeline entry, once: the mark is a conditional UPDATE
on `response_met IS NULL`. Any status change out of "triggered"
(acknowledge, mitigate, resolve, cancel) stops the escalation
(`on_transition`, called by `incidents.services._transition`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from opsgov.policy import get_policy
from opsgov.publishing import publish
from opsgov.sla import due_at, policy_calendar

from .. import maintenance_links
from ..models import (
    OPEN_STATUSES,
    EscalationLevel,
    Incident,
    IncidentStatus,
    ServiceEscalation,
    TimelineEvent,
    TimelineKind,
)
from . import notifications
from .selectors import on_call_at

logger = logging.getLogger(__name__)

#: The task that runs one escalation step (incidents.oncall.tasks), published by name: the tasks module
#: imports this one.
ESCALATE_TASK = "incidents.notify_tasks.escalate_incident"

#: Most incidents one beat run escalates; the rest wait for the next run (a minute later).
BATCH_SIZE = 200

_ESCALATION_FIELDS = ["escalation_policy", "escalation_level", "next_escalation_at", "response_due_at", "updated_at"]


@dataclass(frozen=True)
class EscalationStep:
    """What one escalation step did."""

    incident_id: int
    level: int
    notification_ids: list[int] = field(default_factory=list)
    next_escalation_at: datetime | None = None


@dataclass(frozen=True)
class EscalationRun:
    """What one beat run did: the steps taken and the response targets marked breached."""

    steps: list[EscalationStep] = field(default_factory=list)
    breached: list[int] = field(default_factory=list)
    errors: int = 0


# --- Starting and stopping ----------------------------------------------------------------


def response_due(incident: Incident) -> datetime | None:
    """When `incident` must be acknowledged: its severity's response target from the trigger, on the SLA clock."""
    level = get_policy().incidents.severities.get(incident.severity)
    if level is None:
        return None
    return due_at(incident.triggered_at, level.response_target, calendar=policy_calendar())


def start(incident: Incident, *, at: datetime | None = None, hold: bool = True) -> Incident:
    """Set the response target and the escalation of a new incident; call it in the creating transaction.

    Enqueues the first step on commit when it is due already (level 1 without delay). When an approved
    maintenance window of its service is open at `at` (the trigger by default) and its severity does not page
    during maintenance (incidents.maintenance_links.paging_hold), nobody is paged: the escalation is left
    unscheduled and the timeline says why. `hold=False` starts it regardless (a severity raised to a paging one).
    """
    at = at or incident.triggered_at
    incident.response_due_at = response_due(incident)
    link = ServiceEscalation.objects.select_related("policy").filter(service_id=incident.service_id).first()
    first = link.policy.levels.order_by("position").first() if link is not None else None
    incident.escalation_policy = link.policy if link is not None else None
    incident.escalation_level = 0
    incident.next_escalation_at = (
        incident.triggered_at + timedelta(minutes=first.delay_minutes) if first is not None else None
    )
    held = maintenance_links.paging_hold(incident, at=at) if hold else ""
    if held:
        incident.next_escalation_at = None
        maintenance_links.record_hold(incident, held, at=at)
    incident.save(update_fields=_ESCALATION_FIELDS)
    scheduled = incident.next_escalation_at
    if scheduled is not None and scheduled <= timezone.now():
        _enqueue_step_on_commit(incident.pk, 0, scheduled)
    return incident


def on_transition(incident: Incident, *, at: datetime) -> None:
    """Called by the lifecycle after a status change of the locked `incident` (at `at`).

    Acknowledging records the response against `response_due_at`; leaving
    "triggered" in any way stops the escalation.
    """
    changed: list[str] = []
    if incident.status == IncidentStatus.ACKNOWLEDGED and incident.response_due_at is not None:
        met = at <= incident.response_due_at
        if incident.response_met is not met:
            incident.response_met = met
            changed.append("response_met")
    if incident.status != IncidentStatus.TRIGGERED and incident.next_escalation_at is not None:
        incident.next_escalation_at = None
        changed.append("next_escalation_at")
    if changed:
        incident.save(update_fields=[*changed, "updated_at"])


# --- Escalation steps --------------------------------------------------------------------


@transaction.atomic
def escalate(
    *, incident_id: int, level: int, scheduled_at: datetime, now: datetime | None = None
) -> EscalationStep | None:
    """Notify the level after `level` if the incident's current follow-up is still (level, scheduled_at).

    Returns None when there is nothing to do: the step ran already, runs in
    another worker right now, is not due, or the incident was acknowledged or
    closed. See the module docstring for why a step never runs twice.
    """
    now = now or timezone.now()
    current = dict(
        pk=incident_id,
        status=IncidentStatus.TRIGGERED,
        escalation_level=level,
        next_escalation_at=scheduled_at,
    )
    incident = (
        Incident.objects.select_for_update(skip_locked=True, of=("self",))  # not the joined service row
        .filter(**current, next_escalation_at__lte=now)
        .select_related("service")
        .first()
    )
    if incident is None:
        return None
    levels = (
        list(
            EscalationLevel.objects.filter(policy_id=incident.escalation_policy_id, position__gt=level)
            .select_related("schedule")
            .prefetch_related("users")
            .order_by("position")[:2]
        )
        if incident.escalation_policy_id is not None
        else []
    )
    if not levels:
        # The policy was removed or shortened since this step was scheduled: nothing left to notify.
        Incident.objects.filter(**current).update(next_escalation_at=None, updated_at=now)
        return None
    target = levels[0]
    following = levels[1] if len(levels) > 1 else None
    next_at = now + timedelta(minutes=following.delay_minutes) if following is not None else None
    claimed = Incident.objects.filter(**current).update(
        escalation_level=target.position, next_escalation_at=next_at, updated_at=now
    )
    if claimed != 1:
        return None
    incident.escalation_level = target.position
    incident.next_escalation_at = next_at

    recipients, notes = _level_recipients(target, now)
    created = notifications.create_for_level(incident=incident, level=target.position, users=recipients, now=now)
    _log_level(incident, target, created, notes, now)
    if next_at is not None and following is not None and following.delay_minutes == 0:
        _enqueue_step_on_commit(incident.pk, target.position, next_at)
    return EscalationStep(
        incident_id=incident.pk,
        level=target.position,
        notification_ids=[n.pk for n in created],
        next_escalation_at=next_at,
    )


def _level_recipients(level: EscalationLevel, now: datetime) -> tuple[list[Any], list[str]]:
    """The active people of `level` at `now`: the schedule's on-call person first, then the named users.

    Also returns notes for the timeline (nobody on call, an on-call lookup that failed).
    """
    people: list[Any] = []
    notes: list[str] = []
    if level.schedule is not None:
        try:
            person = on_call_at(level.schedule, now)
        except Exception:  # the named users must still be notified when the on-call lookup breaks
            logger.exception("Could not compute who is on call for schedule %s", level.schedule_id)
            notes.append(f"could not determine who is on call for {level.schedule}")
        else:
            if person is None:
                notes.append(f"nobody is on call for {level.schedule}")
            else:
                people.append(person)
    people.extend(level.users.all())
    unique: dict[int, Any] = {}
    for person in people:
        if person.is_active and person.pk not in unique:
            unique[person.pk] = person
    return list(unique.values()), notes


def _log_level(
    incident: Incident,
    level: EscalationLevel,
    created: Iterable[Any],
    notes: list[str],
    now: datetime,
) -> None:
    created = list(created)
    by_person: dict[str, list[str]] = {}
    for notification in created:
        who = _person_label(notification.recipient) if notification.recipient is not None else "team"
        by_person.setdefault(who, []).append(f"{notification.kind} {notification.destination}")
    if by_person:
        who = "; ".join(f"{person} ({', '.join(ways)})" for person, ways in by_person.items())
        message = f"Escalation level {level.position}: notifying {who}"
    else:
        message = f"Escalation level {level.position}: nobody to notify"
    if notes:
        message += f" ({'; '.join(notes)})"
    TimelineEvent.objects.create(
        incident=incident,
        kind=TimelineKind.NOTIFICATION,
        at=now,
        message=message,
        data={
            "level": level.position,
            "policy": incident.escalation_policy_id,
            "notifications": [n.pk for n in created],
            "recipients": sorted({n.recipient_id for n in created if n.recipient_id is not None}),
            "notes": notes,
            "next_escalation_at": incident.next_escalation_at.isoformat() if incident.next_escalation_at else None,
        },
    )


def _person_label(user: Any) -> str:
    name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return str(name or user.get_username())


# --- The beat run ------------------------------------------------------------------------


def due_steps(*, now: datetime | None = None, limit: int = BATCH_SIZE) -> list[tuple[int, int, datetime]]:
    """(incident id, level last notified, scheduled time) of the escalation steps due at `now`, oldest first."""
    now = now or timezone.now()
    rows = (
        Incident.objects.filter(next_escalation_at__lte=now, status=IncidentStatus.TRIGGERED)
        .order_by("next_escalation_at", "pk")
        .values_list("pk", "escalation_level", "next_escalation_at")[:limit]
    )
    return [(pk, level, at) for pk, level, at in rows if at is not None]


def escalate_due(*, now: datetime | None = None, limit: int = BATCH_SIZE) -> EscalationRun:
    """The beat run: every due step (each in its own transaction), then the response targets that passed.

    Safe to run concurrently with itself and with `escalate_incident` tasks
    (see the module docstring). An error in one incident is logged and does not
    stop the others.
    """
    now = now or timezone.now()
    steps: list[EscalationStep] = []
    errors = 0
    for incident_id, level, scheduled_at in due_steps(now=now, limit=limit):
        try:
            step = escalate(incident_id=incident_id, level=level, scheduled_at=scheduled_at, now=now)
        except Exception:
            errors += 1
            logger.exception("Escalating incident %s (after level %s) failed", incident_id, level)
            continue
        if step is not None:
            steps.append(step)
    breached = mark_response_breaches(now=now, limit=limit)
    return EscalationRun(steps=steps, breached=breached, errors=errors)


def mark_response_breaches(*, now: datetime | None = None, limit: int = BATCH_SIZE) -> list[int]:
    """Mark open, unacknowledged incidents whose response target passed: response_met False, a timeline entry.

    Each incident is marked once: the conditional UPDATE on ``response_met IS NULL``
    decides which of two concurrent runs writes the timeline entry.
    """
    now = now or timezone.now()
    candidates = list(
        Incident.objects.filter(
            response_met__isnull=True,
            response_due_at__lte=now,
            acknowledged_at__isnull=True,
            status__in=OPEN_STATUSES,
        )
        .order_by("response_due_at", "pk")
        .values_list("pk", "severity", "response_due_at")[:limit]
    )
    marked: list[int] = []
    severities = get_policy().incidents.severities
    for incident_id, severity, due in candidates:
        if due is None:  # excluded by the filter; for the type checker
            continue
        with transaction.atomic():
            claimed = Incident.objects.filter(
                pk=incident_id, response_met__isnull=True, acknowledged_at__isnull=True, status__in=OPEN_STATUSES
            ).update(response_met=False, updated_at=now)
            if claimed != 1:
                continue
            target = severities.get(severity)
            what = f"{severity} response target ({target.response_target})" if target else "Response target"
            TimelineEvent.objects.create(
                incident_id=incident_id,
                kind=TimelineKind.FIELD,
                at=due,
                message=f"{what} missed: not acknowledged by {_local(due)}",
                data={"field": "response_met", "before": None, "after": "False", "response_due_at": due.isoformat()},
            )
        marked.append(incident_id)
    return marked


def _local(at: datetime) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M %Z}"


# --- Enqueueing --------------------------------------------------------------------------


def enqueue_step(incident_id: int, level: int, scheduled_at: datetime) -> bool:
    """Publish the escalation step; False (logged) when the broker is unreachable: the beat task covers it."""
    return publish(
        ESCALATE_TASK,
        (incident_id, level, scheduled_at.isoformat()),
        logger=logger,
        what="escalation of incident %s",
        what_args=(incident_id,),
        then="the beat task will run it",
    )


def _enqueue_step_on_commit(incident_id: int, level: int, scheduled_at: datetime) -> None:
    transaction.on_commit(lambda: enqueue_step(incident_id, level, scheduled_at), robust=True)
