"""A real Alertmanager sends its webhooks to opsgov, and a real Celery worker turns them into one incident.

Debian's prometheus-alertmanager runs on a free loopback port, clustering off,
its storage in a temporary folder, with a generated configuration whose webhook
receiver is an Alertmanager integration's URL on pytest-django's live server.
Alerts go in through Alertmanager's API (POST /api/v2/alerts), as Prometheus
sends them. The live server stores each webhook and publishes its processing on
commit, to the queue of a worker subprocess on Redis: the path production takes,
with nothing run in this process but the web request.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incidents import services
from incidents.models import Incident, IncidentStatus, Integration, RawEvent, TimelineKind

from ..factories import ServiceFactory
from .conftest import Alertmanager, CeleryProducer, Worker, purge_queue, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
#: group_wait 1 s and group_interval 2 s: a change reaches the webhook within ~2 s.
DELIVERY_TIMEOUT = 30.0


def alertmanager_config(webhook_url: str) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "opsgov",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "2s",
            "repeat_interval": "4s",  # repeats reach opsgov during the test and must add nothing
        },
        "receivers": [
            {"name": "opsgov", "webhook_configs": [{"url": webhook_url, "send_resolved": True, "max_alerts": 0}]}
        ],
    }


@pytest.fixture
def start_alertmanager(run_alertmanager: Callable[[dict[str, Any]], Alertmanager]) -> Callable[[str], Alertmanager]:
    """Alertmanager whose webhook receiver posts to `webhook_url`."""
    return lambda webhook_url: run_alertmanager(alertmanager_config(webhook_url))


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alert(instance: str, *, starts_at: datetime, ends_at: datetime | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "labels": {"alertname": "CheckoutDown", "job": "checkout", "instance": instance, "severity": "critical"},
        "annotations": {"summary": "Checkout is down", "description": f"{instance} does not answer"},
        "startsAt": iso(starts_at),
        "generatorURL": "http://prometheus.example.internal:9090/graph?g0.expr=up%3D%3D0",
    }
    if ends_at is not None:
        body["endsAt"] = iso(ends_at)
    return body


def signals(incident: Incident) -> list[tuple[str, str]]:
    return [
        (str(data["fingerprint"]), str(data["status"]))
        for data in incident.timeline.filter(kind=TimelineKind.SIGNAL).order_by("id").values_list("data", flat=True)
    ]


def test_alertmanager_alerts_open_one_incident_and_their_resolution_resolves_it(
    live_server: Any,
    redis_url: str,
    start_worker: Any,
    celery_producer: CeleryProducer,
    start_alertmanager: Any,
) -> None:
    worker: Worker = start_worker(broker_url=redis_url)
    celery_producer.point(redis_url, queue=worker.queue)
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    integration, token = services.integration_create(name="Alertmanager", kind="alertmanager", service=service)
    alertmanager = start_alertmanager(live_server.url + integration.ingest_path(token))
    try:
        run(alertmanager, integration, worker)
    finally:
        worker.stop()
        purge_queue(redis_url, worker.queue)


def run(alertmanager: Alertmanager, integration: Integration, worker: Worker) -> None:
    def fail(what: str) -> None:
        events = list(RawEvent.objects.values_list("action", "processed_at", "last_error"))
        pytest.fail(
            f"{what}\nraw events: {events}\n--- Alertmanager ---\n{alertmanager.log_tail()}\n"
            f"--- worker ---\n{worker.log_tail()}",
            pytrace=False,
        )

    def incidents() -> list[Incident]:
        return list(Incident.objects.filter(integration=integration))

    started = datetime.now(UTC) - timedelta(minutes=2)
    # One alert fires: Alertmanager waits group_wait, then sends the group.
    alertmanager.post_alerts([alert("checkout-1:8080", starts_at=started)])
    if not wait_until(lambda: len(incidents()) == 1 and len(signals(incidents()[0])) == 1, DELIVERY_TIMEOUT):
        fail("No incident with one signal after the first alert")

    # A second alert of the same group: the next notification carries both; only the new one is a new signal.
    alertmanager.post_alerts([alert("checkout-2:8080", starts_at=started + timedelta(seconds=30))])
    if not wait_until(lambda: len(signals(incidents()[0])) == 2, DELIVERY_TIMEOUT):
        fail("The second alert did not reach the incident")
    fingerprints = {
        item["labels"]["instance"]: item["fingerprint"] for item in alertmanager.api("GET", "/api/v2/alerts")
    }
    (incident,) = incidents()
    assert incident.status == IncidentStatus.TRIGGERED
    assert incident.severity == "SEV-1"  # severity="critical", mapped by default
    assert incident.title == "Checkout is down"
    # Time truth: triggered when opsgov stored the first notification, not at the alerts' startsAt (2 min before).
    first_trigger = RawEvent.objects.filter(integration=integration, action="trigger").order_by("id").first()
    assert first_trigger is not None and incident.triggered_at == first_trigger.received_at
    assert incident.triggered_at - started > timedelta(minutes=2)
    assert sorted(signals(incident)) == sorted((fingerprint, "firing") for fingerprint in fingerprints.values())

    # Both resolve (endsAt now): Alertmanager sends the resolved group at the next group_interval.
    now = datetime.now(UTC)
    alertmanager.post_alerts(
        [
            alert("checkout-1:8080", starts_at=started, ends_at=now),
            alert("checkout-2:8080", starts_at=started + timedelta(seconds=30), ends_at=now),
        ]
    )

    def resolved() -> bool:
        incident.refresh_from_db()
        return bool(incident.status == IncidentStatus.RESOLVED)

    if not wait_until(resolved, DELIVERY_TIMEOUT):
        fail(f"The incident is {incident.status}, not resolved, after the alerts resolved")
    wait_until(lambda: not RawEvent.objects.filter(processed_at__isnull=True).exists(), DELIVERY_TIMEOUT)

    assert [item.pk for item in incidents()] == [incident.pk], "one incident for the whole group"
    assert incident.resolved_at is not None
    resolve = incident.raw_events.filter(action="resolve").order_by("id").first()
    assert resolve is not None and incident.resolved_at == resolve.received_at  # its receipt, not endsAt
    expected = {(fingerprint, status) for fingerprint in fingerprints.values() for status in ("firing", "resolved")}
    assert sorted(signals(incident)) == sorted(expected), "one signal per fingerprint and status, repeats add nothing"

    events = RawEvent.objects.filter(integration=integration)
    assert events.filter(action="trigger").count() >= 2
    assert events.filter(action="resolve").count() >= 1
    assert not events.filter(processed_at__isnull=True).exists()
    assert not events.exclude(last_error="").exists()
    group_keys = set(events.values_list("dedup_key", flat=True))
    assert len(group_keys) == 1 and next(iter(group_keys)).endswith('{alertname="CheckoutDown"}')
    assert incident.dedup_key in group_keys
    # Processed by the worker subprocess, not in this process.
    succeeded = re.findall(r"incidents\.tasks\.process_raw_event\[[0-9a-f-]+\] succeeded", worker.log())
    assert len(succeeded) >= events.count(), worker.log_tail()
