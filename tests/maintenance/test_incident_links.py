"""incidents asks maintenance through opsgov.registry.maintenance when an incident triggers."""

from __future__ import annotations

import pytest
import time_machine

from incidents import services as incident_services
from incidents.models import TimelineKind
from maintenance import services
from maintenance.models import ChangeRecord
from tests.factories import ServiceFactory

from .support import approved_window, utc

pytestmark = pytest.mark.django_db


def test_an_incident_after_a_change_links_it_and_notes_maintenance_in_progress() -> None:
    service = ServiceFactory.create(slug="checkout")
    approved_window(service)  # Sundays 02:00-06:00 UTC
    change = services.create_change(title="Deploy 1.4.2", services=[service])
    ChangeRecord.objects.filter(pk=change.pk).update(actual_start=utc(2026, 3, 22, 2, 30))
    with time_machine.travel(utc(2026, 3, 22, 3, 0), tick=False):
        incident = incident_services.incident_create(title="5xx on checkout", service=service, severity="SEV-2")
    link = change.incident_links.get()
    assert (link.incident_id, link.triggered_at) == (incident.pk, utc(2026, 3, 22, 3, 0))
    notes = list(incident.timeline.filter(kind=TimelineKind.NOTE).values_list("data", flat=True))
    assert {"during_maintenance": True} in notes
    assert any(note.get("suspected_change", {}).get("number") == change.number for note in notes)


def test_an_incident_outside_windows_and_long_after_changes_gets_no_note() -> None:
    service = ServiceFactory.create(slug="checkout")
    approved_window(service)
    change = services.create_change(title="Deploy", services=[service])
    ChangeRecord.objects.filter(pk=change.pk).update(actual_start=utc(2026, 3, 23, 2))
    with time_machine.travel(utc(2026, 3, 24, 12, 0), tick=False):
        incident = incident_services.incident_create(title="x", service=service, severity="SEV-3")
    assert not incident.timeline.filter(kind=TimelineKind.NOTE).exists()
    assert not change.incident_links.exists()
