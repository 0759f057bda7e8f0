"""P1 means the system is down: the ticket links to (or declares) the service's incident through opsgov.events,
and resolving the incident posts a note on every linked ticket."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from incidents import services as incident_services
from incidents.ingest import services as ingest
from incidents.models import Incident, RawEvent
from opsgov.roles import SUPPORT_TEAM
from support import services
from support.models import MessageKind
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def process_alerts() -> None:
    for event_id in RawEvent.objects.filter(processed_at__isnull=True).values_list("pk", flat=True):
        ingest.process_raw_event(event_id=event_id)


def test_p1_tickets_share_the_services_incident_and_hear_of_its_resolution() -> None:
    service = ServiceFactory.create()
    first = services.create_ticket(
        subject="Down", description="all down", requester_email="a@x.test", priority="P1", service=service
    )
    process_alerts()
    second = services.create_ticket(
        subject="Down too", description="same", requester_email="b@x.test", priority="P1", service=service
    )
    process_alerts()
    [incident] = Incident.objects.filter(service=service)
    assert incident.dedup_key == first.incident_key == second.incident_key == f"support:p1:{service.pk}"
    incident_services.incident_resolve(incident=incident, message="fixed")
    for ticket in (first, second):
        note = ticket.messages.get(kind=MessageKind.NOTE)
        assert note.body.startswith(f"Incident {incident.public_id} was resolved")


def test_the_support_team_may_declare_incidents(make_user: object) -> None:
    user: User = make_user("sup", SUPPORT_TEAM)  # type: ignore[operator]
    assert user.has_perm("incidents.add_incident")
    client = Client()
    client.force_login(user)
    assert client.get("/incidents/new/").status_code == 200
