"""Explicit timestamps through the incidents API: importers only (SRE Lead), audited, import's rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from rest_framework.test import APIClient

from incidents.history import IMPORT_PERMISSION
from incidents.models import Incident, IncidentStatus, TimelineKind
from opsgov.api.strict import UNKNOWN_FIELD
from opsgov.roles import ALL_ROLES, SRE_LEAD, TECH_LEAD

from ..factories import ServiceFactory
from .factories import IncidentFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/incidents/"


def ago(**delta: float) -> datetime:
    return (timezone.now() - timedelta(**delta)).replace(microsecond=0)


def errors(response) -> dict[str, str]:
    assert response.status_code == 400, response.content
    return {error["field"]: error["message"] for error in response.json()["errors"]}


@pytest.fixture
def as_role(make_user: Callable[..., User], client_for: Callable[[User], APIClient]) -> Callable[[str], APIClient]:
    return lambda role: client_for(make_user(role.lower().replace(" ", "_"), role))


@pytest.fixture
def checkout():
    return ServiceFactory.create(slug="checkout")


def body(**instants: datetime) -> dict[str, str]:
    return {
        "title": "Checkout 5xx spike",
        "service": "checkout",
        "severity": "SEV-2",
        **{name: value.isoformat() for name, value in instants.items()},
    }


def test_only_the_sre_lead_role_may_import_history() -> None:
    holders = {group.name for group in Group.objects.filter(permissions__codename="import_incident_history")}
    assert holders == {SRE_LEAD}
    assert set(ALL_ROLES) > holders


def test_an_importer_records_an_incident_at_its_instants_audited(as_role, checkout) -> None:
    triggered, acked, resolved = ago(days=20), ago(days=20, minutes=-6), ago(days=19)
    response = as_role(SRE_LEAD).post(
        URL, body(triggered_at=triggered, acknowledged_at=acked, resolved_at=resolved), format="json"
    )
    assert response.status_code == 201, response.content
    incident = Incident.objects.get()
    assert (incident.triggered_at, incident.acknowledged_at, incident.resolved_at) == (triggered, acked, resolved)
    assert incident.status == IncidentStatus.RESOLVED
    note = incident.timeline.filter(kind=TimelineKind.NOTE).get()
    assert note.actor is not None and note.actor.username == "sre_lead"
    assert note.message.startswith("Imported with explicit timestamps by sre_lead")
    assert triggered.isoformat() in note.message and resolved.isoformat() in note.message
    entry = LogEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Incident),
        object_pk=str(incident.pk),
        additional_data__explicit_timestamps=True,
    )
    assert entry.actor.username == "sre_lead"
    assert set(entry.changes_dict) == {"triggered_at", "acknowledged_at", "resolved_at"}


def test_anyone_else_sending_timestamps_gets_a_400_naming_them(as_role, checkout) -> None:
    tech_lead = as_role(TECH_LEAD)  # may declare incidents, not import history
    response = tech_lead.post(URL, body(acknowledged_at=ago(hours=1), resolved_at=ago(minutes=5)), format="json")
    found = errors(response)
    assert set(found) == {"acknowledged_at", "resolved_at"}
    assert all(message.startswith(UNKNOWN_FIELD) and IMPORT_PERMISSION in message for message in found.values())
    assert set(errors(tech_lead.post(URL, body(triggered_at=ago(days=3)), format="json"))) == {"triggered_at"}
    assert not Incident.objects.exists()
    assert tech_lead.post(URL, body(), format="json").status_code == 201  # without them: declared now


@pytest.mark.parametrize(
    ("instants", "field"),
    [
        ({"triggered_at": ago(hours=2), "acknowledged_at": ago(hours=3)}, "acknowledged_at"),
        ({"triggered_at": ago(hours=3), "acknowledged_at": ago(hours=1), "mitigated_at": ago(hours=2)}, "mitigated_at"),
        ({"triggered_at": ago(hours=3), "acknowledged_at": ago(hours=1), "resolved_at": ago(hours=2)}, "resolved_at"),
        ({"triggered_at": ago(hours=3), "resolved_at": ago(hours=1), "cancelled_at": ago(hours=1)}, "cancelled_at"),
        ({"triggered_at": ago(hours=-2)}, "triggered_at"),
        ({"acknowledged_at": ago(hours=2)}, "acknowledged_at"),  # before "now", the default trigger
    ],
)
def test_instants_follow_the_import_rules(as_role, checkout, instants: dict[str, datetime], field: str) -> None:
    assert set(errors(as_role(SRE_LEAD).post(URL, body(**instants), format="json"))) == {field}
    assert not Incident.objects.exists()


def test_importing_the_same_incident_twice_is_refused(as_role, checkout) -> None:
    sre = as_role(SRE_LEAD)
    triggered = ago(days=3)
    first = sre.post(URL, body(triggered_at=triggered), format="json")
    assert first.status_code == 201
    assert errors(sre.post(URL, body(triggered_at=triggered), format="json")) == {
        "triggered_at": f"Already recorded as {first.json()['id']} (same service and title)."
    }


def test_an_action_at_an_explicit_instant_is_for_importers_and_audited(as_role, checkout) -> None:
    incident = IncidentFactory.create(service=checkout, triggered_at=ago(hours=3))
    at = ago(hours=2)
    refused = as_role(TECH_LEAD).post(f"{URL}{incident.pk}/acknowledge/", {"at": at.isoformat()}, format="json")
    assert set(errors(refused)) == {"at"}
    assert (
        as_role(TECH_LEAD).post(f"{URL}{incident.pk}/note/", {"message": "x", "at": at.isoformat()}).status_code == 400
    )
    accepted = as_role(SRE_LEAD).post(f"{URL}{incident.pk}/acknowledge/", {"at": at.isoformat()}, format="json")
    assert accepted.status_code == 200
    incident.refresh_from_db()
    assert incident.acknowledged_at == at
    note = incident.timeline.filter(kind=TimelineKind.NOTE).get()
    assert note.message.startswith("Acknowledge recorded with explicit timestamps by sre_lead")
    assert LogEntry.objects.filter(object_pk=str(incident.pk), additional_data__explicit_timestamps=True).count() == 1
