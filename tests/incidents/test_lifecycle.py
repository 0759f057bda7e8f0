"""Incident lifecycle: validated transitions, an append-only timeline, explicit reopen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction

from incidents import services
from incidents.models import Incident, IncidentStatus, TimelineKind
from opsgov.errors import DomainError

from ..factories import ServiceFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _now() -> object:
    with time_machine.travel(T0 + timedelta(days=1), tick=False) as traveller:
        yield traveller


def new_incident(**extra: object) -> Incident:
    defaults: dict[str, object] = {
        "title": "Checkout errors",
        "service": ServiceFactory.create(slug="checkout"),
        "severity": "SEV-2",
        "triggered_at": T0,
    }
    return services.incident_create(**{**defaults, **extra})  # type: ignore[arg-type]


def test_it_moves_through_the_lifecycle_and_records_each_step() -> None:
    incident = new_incident()
    services.incident_acknowledge(incident=incident, at=T0 + timedelta(minutes=4))
    services.incident_mitigate(incident=incident, at=T0 + timedelta(minutes=30))
    incident = services.incident_resolve(incident=incident, at=T0 + timedelta(hours=2))
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.acknowledged_at == T0 + timedelta(minutes=4)
    assert incident.resolved_at == T0 + timedelta(hours=2)
    kinds = list(incident.timeline.values_list("kind", "data__to"))
    assert kinds == [
        (TimelineKind.TRIGGERED, None),
        (TimelineKind.STATUS, "acknowledged"),
        (TimelineKind.STATUS, "mitigated"),
        (TimelineKind.STATUS, "resolved"),
    ]


def test_it_refuses_a_resolve_before_the_trigger() -> None:
    incident = new_incident()
    with pytest.raises(DomainError) as caught:
        services.incident_resolve(incident=incident, at=T0 - timedelta(seconds=1))
    assert caught.value.field == "at"
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.TRIGGERED and incident.timeline.count() == 1


def test_it_refuses_a_resolve_before_the_acknowledgement() -> None:
    incident = new_incident()
    services.incident_acknowledge(incident=incident, at=T0 + timedelta(minutes=10))
    with pytest.raises(DomainError, match="before its last status change"):
        services.incident_resolve(incident=incident, at=T0 + timedelta(minutes=5))


def test_it_refuses_times_in_the_future() -> None:
    with pytest.raises(DomainError, match="in the future"):
        new_incident(triggered_at=T0 + timedelta(days=2))


def test_it_does_not_go_back_without_an_explicit_reopen() -> None:
    incident = new_incident()
    services.incident_resolve(incident=incident, at=T0 + timedelta(hours=1))
    with pytest.raises(services.TransitionError, match="Reopen it first"):
        services.incident_acknowledge(incident=incident)
    incident = services.incident_reopen(incident=incident, reason="errors came back")
    assert incident.status == IncidentStatus.TRIGGERED
    assert incident.resolved_at is None and incident.reopen_count == 1
    reopened = incident.timeline.get(kind=TimelineKind.REOPENED)
    assert reopened.data["closed_at"] == (T0 + timedelta(hours=1)).isoformat()
    acknowledged = services.incident_acknowledge(incident=incident)
    assert acknowledged.status == IncidentStatus.ACKNOWLEDGED


def test_acknowledging_twice_is_an_error_not_a_silent_change() -> None:
    incident = new_incident()
    services.incident_acknowledge(incident=incident, at=T0 + timedelta(minutes=1))
    with pytest.raises(services.TransitionError, match="acknowledged"):
        services.incident_acknowledge(incident=incident, at=T0 + timedelta(minutes=2))
    incident.refresh_from_db()
    assert incident.acknowledged_at == T0 + timedelta(minutes=1)


def test_a_cancel_needs_a_reason_and_closes_the_incident() -> None:
    incident = new_incident()
    with pytest.raises(DomainError):
        services.incident_cancel(incident=incident, reason=" ")
    incident = services.incident_cancel(incident=incident, reason="flapping probe")
    assert incident.status == IncidentStatus.CANCELLED and incident.cancelled_at is not None


def test_an_unknown_severity_is_rejected_with_the_field() -> None:
    with pytest.raises(Exception) as caught:
        new_incident(severity="SEV-9")
    assert "severity" in caught.value.message_dict  # type: ignore[attr-defined]


def test_field_changes_are_logged_in_the_timeline() -> None:
    incident = new_incident()
    services.incident_update(incident=incident, data={"severity": "SEV-1", "customer_impact": True})
    changes = {
        event.data["field"]: (event.data["before"], event.data["after"])
        for event in incident.timeline.filter(kind="field")
    }
    assert changes == {"severity": ("SEV-2", "SEV-1"), "customer_impact": ("False", "True")}


def test_the_database_allows_one_open_incident_per_integration_and_key() -> None:
    from incidents.services import integration_create

    service = ServiceFactory.create(slug="checkout")
    integration, _ = integration_create(name="AM", kind="alertmanager", service=service)
    new_incident(service=service, integration=integration, dedup_key="group-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.create(
            title="dup",
            service=service,
            severity="SEV-2",
            integration=integration,
            dedup_key="group-1",
            triggered_at=T0,
        )
    first = Incident.objects.get(dedup_key="group-1")
    services.incident_resolve(incident=first, at=T0 + timedelta(minutes=5))
    second = new_incident(service=service, integration=integration, dedup_key="group-1")
    assert second.pk != first.pk
    with pytest.raises(services.TransitionError, match="already open"):
        services.incident_reopen(incident=first, reason="again")


def test_a_severity_change_moves_the_response_target_until_acknowledged() -> None:
    incident = new_incident(severity="SEV-3")
    assert incident.response_due_at == T0 + timedelta(hours=4)
    incident = services.incident_update(incident=incident, data={"severity": "SEV-1"})
    assert incident.response_due_at == T0 + timedelta(minutes=15)


def test_reopening_an_incident_nobody_acknowledged_escalates_again() -> None:
    from incidents.models import EscalationLevel, EscalationPolicy, ServiceEscalation

    service = ServiceFactory.create(slug="checkout")
    policy = EscalationPolicy.objects.create(slug="checkout", name="Checkout")
    EscalationLevel.objects.create(policy=policy, position=1, delay_minutes=0)
    ServiceEscalation.objects.create(service=service, policy=policy)
    incident = new_incident(service=service)
    incident.refresh_from_db()
    assert incident.next_escalation_at == T0
    services.incident_resolve(incident=incident, at=T0 + timedelta(minutes=5))
    incident.refresh_from_db()
    assert incident.next_escalation_at is None
    incident = services.incident_reopen(incident=incident, reason="errors again")
    incident.refresh_from_db()
    assert (incident.status, incident.escalation_level, incident.next_escalation_at) == ("triggered", 0, T0)
