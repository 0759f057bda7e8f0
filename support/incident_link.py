"""Support's side of opsgov.events.IncidentResolved: a note on every ticket linked to the incident."""

from __future__ import annotations

from opsgov.events import IncidentResolved

from . import services


def on_incident_resolved(event: IncidentResolved) -> None:
    for key in event.keys:
        if key.startswith("support:"):
            services.incident_resolved(key=key, incident=event.public_id, at=event.at)
