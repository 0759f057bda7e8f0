"""A real Alertmanager's `pagerduty_configs` receiver reaches opsgov with a routing key only.

Debian's prometheus-alertmanager runs with a generated configuration whose
receiver is Events v2 (`pagerduty_configs`): its `url` is opsgov's
/api/v1/ingest/v2/enqueue on pytest-django's live server, its `routing_key`
a PagerDuty integration's token, exactly as a user would point it at PagerDuty
(https://events.pagerduty.com/v2/enqueue). A real Celery worker on Redis
turns the stored events into incidents.

What Events v2 documents, checked against what Alertmanager sends: the
dedup_key (Alertmanager's is the SHA-256 of the group key) names one incident
from trigger to resolve, repeats of it add nothing new, and a trigger with the
same dedup_key after the resolve opens a new incident. A routing key of no
integration gets PagerDuty's 400, which Alertmanager reads and does not retry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse

from incidents import services
from incidents.models import Incident, IncidentStatus, Integration, RawEvent

from ..factories import ServiceFactory
from .conftest import Alertmanager, CeleryProducer, Worker, purge_queue, wait_until
from .test_alertmanager import alert

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

#: group_wait 1 s, group_interval 2 s: a change reaches opsgov within ~2 s.
DELIVERY_TIMEOUT = 30.0
#: The group key Alertmanager gives the alerts of the root route grouped by alertname.
GROUP_KEY = '{}:{alertname="CheckoutDown"}'


def alertmanager_config(*, url: str, routing_key: str, wrong_key: str) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "opsgov-events-v2",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "2s",
            "repeat_interval": "4s",  # repeats reach opsgov during the test and must open nothing
            "routes": [{"matchers": ['alertname="WrongKey"'], "receiver": "wrong-key"}],
        },
        "receivers": [
            {
                "name": "opsgov-events-v2",
                "pagerduty_configs": [
                    {"url": url, "routing_key": routing_key, "send_resolved": True, "severity": "critical"}
                ],
            },
            {"name": "wrong-key", "pagerduty_configs": [{"url": url, "routing_key": wrong_key}]},
        ],
    }


@pytest.fixture
def start_alertmanager(run_alertmanager: Callable[[dict[str, Any]], Alertmanager]) -> Callable[..., Alertmanager]:
    """Alertmanager with the Events v2 configuration (keyword arguments of alertmanager_config)."""
    return lambda **config: run_alertmanager(alertmanager_config(**config))


def test_alertmanager_pagerduty_configs_reach_opsgov_with_a_routing_key_only(
    live_server: Any,
    redis_url: str,
    start_worker: Any,
    celery_producer: CeleryProducer,
    start_alertmanager: Any,
) -> None:
    worker: Worker = start_worker(broker_url=redis_url)
    celery_producer.point(redis_url, queue=worker.queue)
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    integration, token = services.integration_create(name="Events v2", kind="pagerduty", service=service)
    wrong_key = ("A" if token[0] != "A" else "B") + token[1:]
    alertmanager = start_alertmanager(
        url=live_server.url + reverse("ingest-events-v2"), routing_key=token, wrong_key=wrong_key
    )
    try:
        run(alertmanager, integration, token, worker)
    finally:
        worker.stop()
        purge_queue(redis_url, worker.queue)


def run(alertmanager: Alertmanager, integration: Integration, token: str, worker: Worker) -> None:
    def fail(what: str) -> None:
        events = list(RawEvent.objects.values_list("action", "dedup_key", "processed_at", "last_error"))
        pytest.fail(
            f"{what}\nraw events: {events}\n--- Alertmanager ---\n{alertmanager.log_tail()}\n"
            f"--- worker ---\n{worker.log_tail()}",
            pytrace=False,
        )

    def incidents() -> list[Incident]:
        return list(Incident.objects.filter(integration=integration).order_by("id"))

    def all_processed() -> bool:
        return not RawEvent.objects.filter(processed_at__isnull=True).exists()

    # Events v2 as Alertmanager documents it: dedup_key = hex SHA-256 of the group key.
    dedup_key = hashlib.sha256(GROUP_KEY.encode()).hexdigest()
    events = RawEvent.objects.filter(integration=integration)

    started = datetime.now(UTC) - timedelta(minutes=2)
    alertmanager.post_alerts([alert("checkout-1:8080", starts_at=started)])
    if not wait_until(lambda: len(incidents()) == 1, DELIVERY_TIMEOUT):
        fail("No incident after the first alert")
    (incident,) = incidents()
    assert incident.status == IncidentStatus.TRIGGERED
    assert incident.dedup_key == dedup_key
    assert incident.severity == "SEV-1"  # the receiver's severity "critical", mapped by default
    assert incident.title.startswith("[FIRING:1] CheckoutDown")  # Alertmanager's default description
    first = events.order_by("id").first()
    assert first is not None
    assert (first.action, first.dedup_key) == ("trigger", dedup_key)
    assert first.payload["client"] == "Alertmanager"
    assert first.payload["routing_key"] == token[:8] + "..."  # the token is not kept in clear

    # Repeats (repeat_interval 4 s) are triggers with the same dedup_key: the same incident.
    if not wait_until(lambda: events.filter(action="trigger").count() >= 2 and all_processed(), DELIVERY_TIMEOUT):
        fail("Alertmanager sent no repeat")
    assert [item.pk for item in incidents()] == [incident.pk]

    # Resolution: Alertmanager sends event_action "resolve" with the same dedup_key.
    alertmanager.post_alerts([alert("checkout-1:8080", starts_at=started, ends_at=datetime.now(UTC))])

    def resolved() -> bool:
        incident.refresh_from_db()
        return bool(incident.status == IncidentStatus.RESOLVED)

    if not wait_until(resolved, DELIVERY_TIMEOUT):
        fail(f"The incident is {incident.status}, not resolved, after the alert resolved")
    assert set(events.filter(action="resolve").values_list("dedup_key", flat=True)) == {dedup_key}

    # The same group firing again after the resolve: a trigger with the same dedup_key opens a new incident.
    alertmanager.post_alerts([alert("checkout-1:8080", starts_at=datetime.now(UTC))])
    if not wait_until(lambda: len(incidents()) == 2, DELIVERY_TIMEOUT):
        fail("No new incident when the resolved group fired again")
    assert [(item.status, item.dedup_key) for item in incidents()] == [
        (IncidentStatus.RESOLVED, dedup_key),
        (IncidentStatus.TRIGGERED, dedup_key),
    ]

    # A routing key of no integration: PagerDuty's 400, which Alertmanager reports and does not retry.
    alertmanager.post_alerts([{**alert("x", starts_at=started), "labels": {"alertname": "WrongKey"}}])
    if not wait_until(lambda: "Invalid routing key" in alertmanager.log_tail(200), DELIVERY_TIMEOUT):
        fail("Alertmanager logged no refusal for the wrong routing key")
    refusals = [line for line in alertmanager.log_tail(400).splitlines() if "Invalid routing key" in line]
    assert "unexpected status code 400" in refusals[0], refusals
    assert "after 1 attempts" in refusals[0], refusals  # 4xx: dropped, not retried

    wait_until(all_processed, DELIVERY_TIMEOUT)
    assert RawEvent.objects.exclude(integration=integration).count() == 0  # the wrong key stored nothing
    assert not events.filter(processed_at__isnull=True).exists()
    assert not events.exclude(last_error="").exists()
    assert set(events.values_list("dedup_key", flat=True)) == {dedup_key}
