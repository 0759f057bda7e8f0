"""Incidents and maintenance, through opsgov.registry.maintenance (maintenance answers; no sibling import).

When an incident's timeline starts (its TRIGGERED entry is written, in the
transaction that opens the incident), two questions go to the maintenance area:

- the changes on its service in the policy's ``maintenance.change_incident_link_within``
  before the trigger are linked to it as suspected causes: the change page lists the
  incident, and the incident's timeline gets a note naming each change;
- when an approved maintenance window of the service is open, the timeline gets a
  "during maintenance" note (``data["during_maintenance"] = True``). Paging and the
  metrics are unchanged: every severity still pages and counts (the policy defaults
  ``maintenance.pages_during_maintenance = ["SEV-1"]`` and
  ``maintenance_alerts_count_in_metrics = true`` are not enforced here yet).

Connected by IncidentsConfig.ready().
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save

from opsgov.registry import maintenance

from .models import TimelineEvent, TimelineKind

DISPATCH_UID = "incidents.maintenance_links.on_trigger"


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
    if maintenance.in_window(service_id=incident.service_id, at=incident.triggered_at):
        TimelineEvent.objects.create(
            incident=incident,
            kind=TimelineKind.NOTE,
            at=instance.at,
            message="During maintenance: an approved maintenance window of this service was open",
            data={"during_maintenance": True},
        )


def connect() -> None:
    post_save.connect(on_trigger, sender=TimelineEvent, dispatch_uid=DISPATCH_UID)
