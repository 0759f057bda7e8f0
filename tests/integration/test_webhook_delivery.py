"""The worker path of an escalation: a real Celery worker on Redis notifies level 1 and posts the webhook.

Creating the incident here enqueues `escalate_incident` on commit; the worker
runs the step, whose commit enqueues `deliver_notification`; the worker posts
the signed webhook to a live receiver in this process. Nothing is eager and
nothing is called directly.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Iterator

import pytest
from django.utils import timezone

from incidents.models import Notification, NotificationStatus
from opsgov.celery import app as celery_app

from ..conftest import missing_service
from ..incidents.test_escalation_support import WEBHOOK_SECRET, make_world, webhook_channel, webhook_receiver
from .conftest import TASK_TIMEOUT, CeleryProducer, Worker, purge_queue, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

#: Redis database 3: this suite's own (the other worker tests use OPSGOV_TEST_REDIS_URL / 13).
ESCALATION_REDIS_URL = "redis://127.0.0.1:6379/3"
DEFAULT_QUEUE = celery_app.conf.task_default_queue


@pytest.fixture
def redis_url() -> str:
    import redis

    url = os.environ.get("OPSGOV_TEST_ESCALATION_REDIS_URL") or ESCALATION_REDIS_URL
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        missing_service(f"Redis at {url} ({type(exc).__name__}: {exc})", "start a Redis server on 127.0.0.1:6379")
    finally:
        client.close()
    return url


@pytest.fixture
def worker(redis_url: str, start_worker: Callable[..., Worker], celery_producer: CeleryProducer) -> Iterator[Worker]:
    # The worker enqueues the deliveries itself, on the default queue: it listens there, on a Redis
    # database of this suite's own (so no other worker can take the messages).
    started = start_worker(broker_url=redis_url, queue=DEFAULT_QUEUE)
    celery_producer.point(redis_url)
    try:
        yield started
    finally:
        purge_queue(redis_url, DEFAULT_QUEUE)


def test_a_worker_escalates_a_new_incident_and_delivers_its_webhook(worker: Worker) -> None:
    world = make_world()
    with webhook_receiver() as receiver:
        webhook_channel(url=receiver.url, team=world.service.owner_team)
        incident = world.incident(at=timezone.now())

        delivered = wait_until(lambda: len(receiver.requests) >= 1, TASK_TIMEOUT)
        assert delivered, f"No webhook within {TASK_TIMEOUT:g} s:\n{worker.log_tail()}"

        def all_recorded() -> bool:
            return not Notification.objects.filter(incident=incident).exclude(status=NotificationStatus.SENT).exists()

        assert wait_until(all_recorded, TASK_TIMEOUT), worker.log_tail()

    [request] = receiver.requests
    digest = hmac.new(WEBHOOK_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Opsgov-Signature"], f"sha256={digest}")
    assert json.loads(request.body)["incident"]["number"] == incident.pk
    kinds = sorted(Notification.objects.filter(incident=incident).values_list("kind", flat=True))
    assert kinds == ["email", "webhook"]  # alice's account email (file backend in the worker) and the team hook
    incident.refresh_from_db()
    assert incident.escalation_level == 1
