"""Incidents and maintenance, through opsgov.registry.maintenance (maintenance answers; no sibling import).

When an incident's timeline starts (its TRIGGERED entry is written, in the
transaction that opens the incident), two questions go to the maintenance area:

- the changes on its service in the policy's ``maintenance.change_incident_link_within``
  before the trigger are linked to it as suspected causes: the change page lists the
  incident, and the incident's timeline gets a note naming each change;
- when an approved maintenance window of the service is open, the timeline gets a
  "during maintenance" note (``data["during_maintenance"] = True``).

Paging during maintenance (:func:`paging_hold`, asked by incidents.oncall.escalation.start):
an incident triggered while a window of its service is open pages only when its
severity is one of the policy's ``maintenance.pages_during_maintenance`` (SEV-1 by
default); for any other severity the escalation is not started and the timeline says
so and why (``data["paging_held"] = True``). Raising its severity to a paging one
later starts the escalation (incidents.services.incident_update).

Such an incident carries ``Incident.during_maintenance``. It counts in every
metric (MTTA, MTTR, MTBF, the availability fallback's downtime) unless the
policy's ``maintenance.maintenance_alerts_count_in_metrics`` is false; then
incidents.metrics and incidents.downtime leave it out.

Connected by IncidentsConfig.ready().
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models.signals import post_save
from django.utils import timezone

from opsgov.policy import get_policy
from opsgov.registry import maintenance

from .models import Incident, TimelineEvent, TimelineKind

DISPATCH_UID = "incidents.maintenance_links.on_trigger"


#: Where the answer for an incident is kept on the instance, so one trigger asks maintenance once.
_ANSWER = "_opsgov_during_maintenance"


def during_maintenance(incident: Incident, *, at: datetime | None = None) -> bool:
    """Whether an approved maintenance window of the incident's service is open at `at` (its trigger)."""
    at = at or incident.triggered_at
    cached = getattr(incident, _ANSWER, None)
    if cached is not None and cached[0] == at:
        return bool(cached[1])
    answer = maintenance.in_window(service_id=incident.service_id, at=at)
    setattr(incident, _ANSWER, (at, answer))
    return answer


def paging_hold(incident: Incident, *, at: datetime | None = None) -> str:
    """Why the incident must not page at `at` (its trigger): a window of its service is open and its severity
    does not page during maintenance; "" when it pages."""
    paging = get_policy().maintenance.pages_during_maintenance
    if incident.severity in paging or not during_maintenance(incident, at=at):
        return ""
    pages = ", ".join(paging) if paging else "no severity"
    return (
        f"Paging held back: an approved maintenance window of this service is open, and during maintenance "
        f"the policy pages {pages} only (maintenance.pages_during_maintenance); this is {incident.severity}"
    )


def record_hold(incident: Incident, reason: str, *, at: datetime) -> TimelineEvent:
    return TimelineEvent.objects.create(
        incident=incident,
        kind=TimelineKind.NOTE,
        at=at,
        message=reason,
        data={
            "paging_held": True,
            "severity": incident.severity,
            "pages_during_maintenance": list(get_policy().maintenance.pages_during_maintenance),
        },
    )


def was_held(incident: Incident) -> bool:
    return incident.timeline.filter(kind=TimelineKind.NOTE, data__paging_held=True).exists()


def on_trigger(sender: type[TimelineEvent], instance: TimelineEvent, created: bool, **kwargs: Any) -> None:
    if not created or instance.kind != TimelineKind.TRIGGERED:
        return
    incident = instance.incident
    changes = maintenance.link_incident(
        incident_id=incident.pk,
        service_id=incident.service_id,
        triggered_at=incident.triggered_at,
        label=f"{incident.public_id}: {incident.title}"[:255],
        url=incident.get_absolute_url(),
    )
    for change in changes:
        TimelineEvent.objects.create(
            incident=incident,
            kind=TimelineKind.NOTE,
            at=instance.at,
            message=f"Suspected cause: {change['number']} {change['title']} (a change on this service shortly before)",
            data={"suspected_change": change},
        )
    if during_maintenance(incident):
        incident.during_maintenance = True
        # A QuerySet.update sets updated_at itself (incidents.metrics' rollups recompute from it).
        Incident.objects.filter(pk=incident.pk).update(during_maintenance=True, updated_at=timezone.now())
        TimelineEvent.objects.create(
            incident=incident,
            kind=TimelineKind.NOTE,
            at=instance.at,
            message="During maintenance: an approved maintenance window of this service was open",
            data={"during_maintenance": True},
        )


def connect() -> None:
    post_save.connect(on_trigger, sender=TimelineEvent, dispatch_uid=DISPATCH_UID)
