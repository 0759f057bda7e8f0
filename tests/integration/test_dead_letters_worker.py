"""A dead letter through the real path: HTTP ingestion, a Celery worker failing the event five times, the owners
e-mailed through an SMTP server, and a replay over the API that the worker then applies.

The failure is genuine: the integration's default severity is one the policy does not define (edited after
the integration was set up), so opening the incident fails validation at every attempt.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from incidents import tasks
from incidents.ingest import services as ingestion
from incidents.ingest import tasks as dead_letter_tasks
from incidents.models import Incident, Integration, RawEvent
from opsgov.celery import app as celery_app
from opsgov.roles import SRE_LEAD

from ..conftest import Sink
from ..incidents.test_ingest_support import alertmanager_url, make_integration
from .conftest import TASK_TIMEOUT, CeleryProducer, Worker, purge_queue, unique_queue, wait_until
from .test_gate_notifications import smtp_sink  # noqa: F401  (the fixture: an SMTP server the worker sends to)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WEBHOOK = {
    "version": "4",
    "groupKey": '{}:{alertname="DiskFull"}',
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "DiskFull"},
            "startsAt": "2026-11-20T10:55:00Z",
            "fingerprint": "d1",
        }
    ],
}


@pytest.fixture
def worker(
    smtp_sink: Sink,  # noqa: F811
    redis_url: str,
    start_worker: Callable[..., Worker],
    celery_producer: CeleryProducer,
) -> Iterator[Worker]:
    started = start_worker(broker_url=redis_url, queue=unique_queue())
    celery_producer.point(redis_url, queue=started.queue)
    celery_app.conf.update(task_routes={"incidents.*": {"queue": started.queue}})
    try:
        yield started
    finally:
        purge_queue(redis_url, started.queue)
        purge_queue(redis_url, "celery")  # the worker's own notify_dead_letters publish (default queue)


def attempts(event_id: int) -> int:
    return int(RawEvent.objects.values_list("attempts", flat=True).get(pk=event_id))


def reached(event_id: int, wanted: int) -> bool:
    return attempts(event_id) == wanted


def test_a_dead_letter_is_emailed_and_a_replay_is_applied_by_the_worker(
    worker: Worker,
    smtp_sink: Sink,  # noqa: F811
    make_user: Callable[..., User],
    client_for: Callable[[User], APIClient],
) -> None:
    lead = make_user("lead", SRE_LEAD, email="lead@example.com")
    integration, token = make_integration("alertmanager")
    team = integration.service.owner_team
    team.email = "owners@example.com"
    team.save()
    Integration.objects.filter(pk=integration.pk).update(default_severity="SEV-9")

    response = Client().post(alertmanager_url(token), data=json.dumps(WEBHOOK), content_type="application/json")
    assert response.status_code == 202
    event = RawEvent.objects.get()
    assert wait_until(lambda: attempts(event.pk) == 1, TASK_TIMEOUT), worker.log_tail()
    for attempt in range(2, ingestion.MAX_ATTEMPTS + 1):  # as the sweeper re-enqueues it
        tasks.process_raw_event.delay(event.pk)
        assert wait_until(partial(reached, event.pk, attempt), TASK_TIMEOUT), worker.log_tail()
    event.refresh_from_db()
    assert event.dead_lettered_at is not None and event.processed_at is None
    assert not Incident.objects.exists()

    dead_letter_tasks.notify_dead_letters.delay()
    assert wait_until(lambda: len(smtp_sink.messages) >= 1, TASK_TIMEOUT), worker.log_tail()
    (_, recipients, raw) = smtp_sink.messages[0]
    assert sorted(recipients) == ["lead@example.com", "owners@example.com"]
    assert b"dead-lettered" in raw and str(integration.uuid).encode() in raw

    Integration.objects.filter(pk=integration.pk).update(default_severity="SEV-3")  # the cause fixed
    replayed = client_for(lead).post(f"/api/v1/dead-letters/{event.uuid}/replay/")
    assert replayed.status_code == 202, replayed.content
    assert wait_until(
        lambda: RawEvent.objects.filter(pk=event.pk, processed_at__isnull=False).exists(), TASK_TIMEOUT
    ), worker.log_tail()
    event.refresh_from_db()
    assert event.incident == Incident.objects.get() and event.replay_count == 1 and event.dead_lettered_at is None
