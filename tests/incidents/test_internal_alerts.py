"""Alerts raised inside opsgov (opsgov.events) take the ingestion path into incidents.

SLO burn-rate alerts take it too, keyed per SLO breach: tests/incidents/test_slo_breach.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction

from incidents.models import Incident, IncidentStatus, Integration, IntegrationKind, RawEvent, TimelineKind
from opsgov.events import ServiceAlert, raise_alert
from tests.factories import ServiceFactory

from .test_ingest_support import process_pending

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def alert(service_id: int, status: str = "firing", **overrides: object) -> ServiceAlert:
    values: dict[str, object] = {
        "service_id": service_id,
        "key": "heartbeat:nightly-export",
        "status": status,
        "severity": "SEV-2",
        "title": "Heartbeat nightly-export is late",
        "at": NOW - timedelta(minutes=5),
        "source": "heartbeat",
        "summary": "No ping for 25 hours (expected every 24 hours, grace 30 minutes)",
        "details": {"check": "nightly-export"},
    }
    values.update(overrides)
    return ServiceAlert(**values)  # type: ignore[arg-type]


def test_a_firing_alert_opens_one_incident_through_the_services_internal_integration(
    django_capture_on_commit_callbacks,
) -> None:
    service = ServiceFactory.create()
    with django_capture_on_commit_callbacks() as callbacks:
        raise_alert(alert(service.pk))
    assert len(callbacks) == 1, "processing is enqueued once the caller's transaction commits"
    process_pending()

    integration = Integration.objects.get(service=service, kind=IntegrationKind.MONITORING)
    incident = Incident.objects.get(integration=integration)
    assert (incident.status, incident.severity, incident.title) == (
        IncidentStatus.TRIGGERED,
        "SEV-2",
        "Heartbeat nightly-export is late",
    )
    # The condition's start is an instant opsgov recorded itself (not a sender's clock): it is the trigger.
    assert incident.triggered_at == NOW - timedelta(minutes=5)
    assert "started 5 min before it reached opsgov" in incident.timeline.get(kind=TimelineKind.SIGNAL).message
    assert incident.dedup_key == "heartbeat:nightly-export"


def test_a_repeated_firing_is_counted_on_its_signal_and_resolved_resolves_it() -> None:
    service = ServiceFactory.create()
    raise_alert(alert(service.pk))
    raise_alert(alert(service.pk))
    process_pending()
    incident = Incident.objects.get(service=service)
    assert incident.timeline.filter(kind=TimelineKind.SIGNAL).count() == 1
    assert incident.alert_signals.get().count == 2

    raise_alert(alert(service.pk, status="resolved", at=NOW))
    process_pending()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.resolved_at == NOW
    assert Integration.objects.filter(service=service, kind=IntegrationKind.MONITORING).count() == 1

    raise_alert(alert(service.pk))
    process_pending()
    assert Incident.objects.filter(service=service).count() == 2, "firing again after resolve opens a new incident"


def test_an_alert_rolled_back_with_its_callers_transaction_leaves_nothing() -> None:
    service = ServiceFactory.create()
    with pytest.raises(RuntimeError), transaction.atomic():
        raise_alert(alert(service.pk))
        raise RuntimeError("the caller's change failed")
    assert not RawEvent.objects.exists()


def test_a_disabled_internal_integration_drops_alerts() -> None:
    service = ServiceFactory.create()
    raise_alert(alert(service.pk))
    Integration.objects.filter(service=service).update(enabled=False)
    raise_alert(alert(service.pk, key="heartbeat:nightly-job"))
    assert list(RawEvent.objects.values_list("dedup_key", flat=True)) == ["heartbeat:nightly-export"]


def test_an_alert_needs_a_known_status_an_aware_time_and_a_short_key() -> None:
    with pytest.raises(ValueError, match="status"):
        alert(1, status="pending")
    with pytest.raises(ValueError, match="aware"):
        alert(1, at=datetime(2026, 11, 20, 10, 0))
    with pytest.raises(ValueError, match="key"):
        alert(1, key="x" * 201)


def test_the_api_does_not_offer_the_internal_kind(client_for, personas) -> None:
    service = ServiceFactory.create()
    client = client_for(personas["SRE Lead"])
    response = client.post(
        "/api/v1/integrations/", {"name": "x", "kind": "monitoring", "service": service.slug}, format="json"
    )
    assert response.status_code == 400
    assert any(error["field"] == "kind" for error in response.json()["errors"])
