"""Nothing accepted is lost: ingestion through broker outages, killed workers and batched publishing.

Real Celery workers (subprocesses, a queue of their own on Redis) process the
events; the broker outage is a producer pointed at a port nobody listens on, so
the machine's Redis keeps serving everyone else. The sweeper runs as beat would
run it, as a function of this process, "31 seconds later" (time-machine moves
this process's clock only, past SWEEP_AFTER).

Every test ends with the same check (`assert_processed_once`): each stored
event processed exactly once (processed_at set, one attempt, no error), one
incident per key, and each incident's signals not doubled.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.db.models import Count, Q
from django.test import Client
from django.utils import timezone

from incidents import tasks
from incidents.ingest import enqueue
from incidents.ingest.enqueue import EnqueueBuffer
from incidents.ingest.services import SWEEP_AFTER, store_raw_event
from incidents.models import Incident, Integration, RawEvent, TimelineKind

from ..conftest import free_port, spawn
from ..incidents.test_ingest_support import Broker, alertmanager_url, celery_broker, make_integration, payload
from .conftest import DEAD_BROKER_URL, TASK_TIMEOUT, CeleryProducer, Worker, purge_queue, unique_queue, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def firing(key: str) -> dict[str, Any]:
    """The two-alert firing fixture under groupKey `key`."""
    data = payload("alertmanager-v4-firing")
    data["groupKey"] = key
    return data


def post_events(integration_token: str, keys: list[str]) -> list[int]:
    """POST one firing webhook per key (in order) through the view; returns the stored events' ids."""
    client = Client()
    url = alertmanager_url(integration_token)
    for key in keys:
        response = client.post(url, data=json.dumps(firing(key)), content_type="application/json")
        assert response.status_code == 202, response.content
    return list(RawEvent.objects.order_by("id").values_list("id", flat=True))


def store_events(integration: Integration, keys: list[str]) -> list[int]:
    """Store one firing webhook per key as the view does (ingestion.store_raw_event), without enqueueing."""
    return [
        store_raw_event(
            integration_id=integration.pk, dedup_key=key, action="trigger", payload_json=json.dumps(firing(key))
        )[0]
        for key in keys
    ]


def unprocessed() -> int:
    return RawEvent.objects.filter(processed_at__isnull=True).count()


def wait_processed(worker: Worker, timeout: float = TASK_TIMEOUT) -> None:
    if not wait_until(lambda: unprocessed() == 0, timeout, interval=0.1):
        pytest.fail(
            f"{unprocessed()} of {RawEvent.objects.count()} events unprocessed after {timeout:g} s "
            f"(worker exit code {worker.process.poll()}):\n{worker.log_tail()}",
            pytrace=False,
        )


def sweep_later() -> int:
    """Run the sweeper as beat would, SWEEP_AFTER + 1 s from now (in this process's clock)."""
    with time_machine.travel(timezone.now() + SWEEP_AFTER + timedelta(seconds=1), tick=True):
        return tasks.sweep_raw_events()


def assert_processed_once(keys: list[str], *, signals_per_incident: int = 2) -> None:
    events = RawEvent.objects.all()
    assert events.count() >= len(keys)
    assert not events.filter(processed_at__isnull=True).exists()
    assert list(events.exclude(attempts=1).values_list("id", "attempts")) == [], "each event applied exactly once"
    assert list(events.exclude(last_error="").values_list("id", "last_error")) == []
    assert sorted(Incident.objects.values_list("dedup_key", flat=True)) == sorted(set(keys)), "one incident per key"
    doubled = (
        Incident.objects.annotate(signals=Count("timeline", filter=Q(timeline__kind=TimelineKind.SIGNAL)))
        .exclude(signals=signals_per_incident)
        .values_list("dedup_key", "signals")
    )
    assert list(doubled) == [], f"every incident has {signals_per_incident} signals (one per alert)"


def queued(broker_url: str, queue: str) -> int:
    """Messages waiting on a Redis queue (not those a worker holds unacknowledged)."""
    import redis

    client = redis.Redis.from_url(broker_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        return int(client.llen(queue))
    finally:
        client.close()


def succeeded(worker: Worker, task: str) -> int:
    return len(re.findall(rf"{re.escape(task)}\[[0-9a-f-]+\] succeeded", worker.log()))


@pytest.fixture
def started_buffer() -> Iterator[EnqueueBuffer]:
    """This process's enqueue buffer, started as gunicorn.conf.py starts it in each web worker."""
    enqueue.enqueue_buffer.start()
    try:
        yield enqueue.enqueue_buffer
    finally:
        enqueue.enqueue_buffer.stop()


# --- Broker outage -------------------------------------------------------------------------


def test_events_accepted_during_a_broker_outage_are_processed_once_by_the_sweeper(
    redis_url: str, start_worker: Any, celery_producer: CeleryProducer, caplog: pytest.LogCaptureFixture
) -> None:
    _, token = make_integration("alertmanager")
    keys = [f"outage-{n % 4}" for n in range(12)]  # 4 groups, each sent 3 times

    celery_producer.point(DEAD_BROKER_URL)
    with caplog.at_level("WARNING", logger="incidents.ingest.enqueue"):
        event_ids = post_events(token, keys)  # every answer 202 (asserted there)
    assert len(event_ids) == 12 and unprocessed() == 12, "stored, though nothing could be enqueued"
    assert caplog.text.count("Could not enqueue processing of raw event") == 12

    worker = start_worker(broker_url=redis_url)
    celery_producer.point(redis_url, queue=worker.queue)
    try:
        assert tasks.sweep_raw_events() == 0, "too recent for the sweeper yet"
        assert sweep_later() == 4, "one task per key: it applies the key's earlier events too"
        wait_processed(worker)
        assert sweep_later() == 0, "nothing left"
    finally:
        worker.stop()
        purge_queue(redis_url, worker.queue)
    assert_processed_once(keys)
    assert succeeded(worker, "incidents.tasks.process_raw_event") == 4


def test_a_batched_enqueue_during_a_broker_outage_loses_nothing(
    redis_url: str,
    start_worker: Any,
    celery_producer: CeleryProducer,
    started_buffer: EnqueueBuffer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The web workers' path (gunicorn.conf.py starts the buffer): ids published in batches by a thread."""
    _, token = make_integration("alertmanager")
    outage_keys = [f"batch-outage-{n}" for n in range(6)]
    later_keys = [f"batch-later-{n}" for n in range(6)]

    celery_producer.point(DEAD_BROKER_URL)
    with caplog.at_level("WARNING", logger="incidents.ingest.enqueue"):
        post_events(token, outage_keys)
        assert wait_until(lambda: started_buffer.pending() == 0, 10, interval=0.05)
        assert wait_until(lambda: "Could not enqueue processing of" in caplog.text, 10, interval=0.05)
    assert unprocessed() == 6

    worker = start_worker(broker_url=redis_url)
    celery_producer.point(redis_url, queue=worker.queue)
    try:
        post_events(token, later_keys)  # the broker is back: batches reach the worker
        assert wait_until(lambda: unprocessed() == 6, TASK_TIMEOUT, interval=0.1), worker.log_tail()
        assert sweep_later() == 6  # the outage's events, one key each
        wait_processed(worker)
    finally:
        worker.stop()
        purge_queue(redis_url, worker.queue)
    assert_processed_once(outage_keys + later_keys)
    batches = succeeded(worker, "incidents.tasks.process_raw_events")
    assert 1 <= batches <= 6, worker.log_tail()
    assert succeeded(worker, "incidents.tasks.process_raw_event") == 6  # the sweeper's


def test_a_started_buffer_publishes_a_full_batch_at_once_and_the_rest_when_stopped(tmp_path: Path) -> None:
    broker = Broker(tmp_path)
    buffer = EnqueueBuffer(interval=60, batch=3)  # within the test, only a full batch or stop() publishes
    with celery_broker_at(broker):
        buffer.start()
        try:
            for event_id in (1, 2, 3):
                buffer.add(event_id)
            assert wait_until(lambda: len(broker.published()) == 1, 10, interval=0.02)
            buffer.add(4)
            time.sleep(0.3)
            assert buffer.pending() == 1 and len(broker.published()) == 1
        finally:
            buffer.stop()
    assert [(task.name, task.args) for task in broker.published()] == [
        ("incidents.tasks.process_raw_events", [[1, 2, 3]]),
        ("incidents.tasks.process_raw_events", [[4]]),
    ]
    assert not buffer.running


def test_a_forked_child_neither_uses_nor_publishes_its_parents_buffer(tmp_path: Path) -> None:
    broker = Broker(tmp_path)
    buffer = EnqueueBuffer(interval=60, batch=100)
    with celery_broker_at(broker):
        buffer.start()
        try:
            buffer.add(1)
            child = os.fork()
            if child == 0:  # pragma: no cover - the child's outcome is its exit status
                code = 0 if not buffer.running else 3
                buffer.stop()  # what a child's exit hook would do: its copy of id 1 is the parent's
                os._exit(code)
            _, status = os.waitpid(child, 0)
            assert os.waitstatus_to_exitcode(status) == 0, "the child saw the buffer running"
            assert broker.published() == [], "the child published its parent's ids"
            assert buffer.running and buffer.pending() == 1
        finally:
            buffer.stop()
    assert [(task.name, task.args) for task in broker.published()] == [("incidents.tasks.process_raw_events", [[1]])]


def celery_broker_at(broker: Broker) -> AbstractContextManager[None]:
    return celery_broker("filesystem://", broker.transport_options)


# --- Killed workers ------------------------------------------------------------------------


def test_a_pool_process_killed_mid_batch_has_its_batch_redelivered(
    redis_url: str, start_worker: Any, celery_producer: CeleryProducer
) -> None:
    """acks_late + reject_on_worker_lost: the pool's parent puts the lost task back on the queue."""
    integration, _ = make_integration("alertmanager")
    keys = [f"pool-kill-{n}" for n in range(200)]
    event_ids = store_events(integration, keys)
    worker = start_worker(broker_url=redis_url, pool="prefork", concurrency=1)
    celery_producer.point(redis_url, queue=worker.queue)
    try:
        (child,) = worker.pool_processes()
        tasks.process_raw_events.apply_async((event_ids,))  # one batch, as the enqueue buffer publishes it
        if not wait_until(lambda: RawEvent.objects.filter(processed_at__isnull=False).count() >= 20, 60, 0.02):
            pytest.fail(f"The batch did not start:\n{worker.log_tail()}", pytrace=False)
        os.kill(child, signal.SIGKILL)
        killed_at = 200 - unprocessed()
        assert 0 < killed_at < 200, "killed mid-batch"
        wait_processed(worker)
    finally:
        worker.stop()
        purge_queue(redis_url, worker.queue)
    log = worker.log()
    assert "WorkerLostError" in log, worker.log_tail()
    assert succeeded(worker, "incidents.tasks.process_raw_events") == 1, "the redelivered batch finished"
    assert_processed_once(keys)


def test_a_worker_killed_outright_leaves_nothing_unprocessed_after_the_sweep(
    redis_url: str, start_worker: Any, celery_producer: CeleryProducer
) -> None:
    """SIGKILL of the whole worker: the message it was running stays unacknowledged until Redis's
    visibility timeout (an hour); a new worker takes what is still queued, the sweeper the rest."""
    _, token = make_integration("alertmanager")
    keys = [f"worker-kill-{n}" for n in range(120)]
    queue = unique_queue()
    celery_producer.point(redis_url, queue=queue)
    started: list[Worker] = []
    try:
        started.append(start_worker(broker_url=redis_url, queue=queue))
        started[0].stop()  # the queue exists; nobody consumes it while the events are posted
        post_events(token, keys)  # one task per event waits on the queue
        first = start_worker(broker_url=redis_url, queue=queue)
        started.append(first)
        if not wait_until(lambda: RawEvent.objects.filter(processed_at__isnull=False).count() >= 20, 60, 0.02):
            pytest.fail(f"The worker did not start on the queue:\n{first.log_tail()}", pytrace=False)
        first.kill()
        assert 0 < unprocessed() < 120, "killed with work left"

        second = start_worker(broker_url=redis_url, queue=queue)
        started.append(second)

        def drained() -> bool:
            if queued(redis_url, queue):
                return False
            before = unprocessed()
            time.sleep(1.0)  # the queue is empty and a second passed without progress: the rest is not queued
            return unprocessed() == before

        assert wait_until(drained, TASK_TIMEOUT, interval=0.1), second.log_tail()
        stuck = unprocessed()
        assert stuck <= 1, "at most the message the killed worker was running (prefetch 1, acks_late)"
        assert sweep_later() == stuck
        wait_processed(second)
    finally:
        for worker in started:
            worker.stop()
        purge_queue(redis_url, queue)
    assert_processed_once(keys)


# --- The production web path: gunicorn workers with their enqueue buffers --------------------


def test_gunicorn_workers_publish_in_batches_and_flush_when_they_stop(
    tmp_path: Path, redis_url: str, start_worker: Any, test_database_url: str
) -> None:
    """gunicorn.conf.py as production runs it: post_worker_init starts each worker's enqueue buffer and
    worker_exit publishes what it still holds; the access log shows no token."""
    integration, token = make_integration("alertmanager")
    worker = start_worker(broker_url=redis_url)
    # The web app publishes to the default queue; route it to this test's worker instead.
    (tmp_path / "opsgov_it_settings.py").write_text(
        "from opsgov.settings import *  # noqa: F403\n"
        f"CELERY_TASK_ROUTES = {{'incidents.tasks.*': {{'queue': {worker.queue!r}}}}}\n"
    )
    port = free_port()
    env = {
        **{key: value for key, value in os.environ.items() if key != "CELERY_RESULT_BACKEND"},
        "DJANGO_SETTINGS_MODULE": "opsgov_it_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(settings.BASE_DIR)]),
        "DATABASE_URL": test_database_url,
        "CELERY_BROKER_URL": redis_url,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "WEB_CONCURRENCY": "2",
        "INGEST_ENQUEUE": "batched",
    }
    log_path = tmp_path / "gunicorn.log"
    gunicorn = spawn(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "opsgov.wsgi"],
        env,
        log_path,
    )
    keys = [f"gunicorn-{n}" for n in range(40)]
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as answer:
                    return bool(answer.status == 200)
            except OSError:
                return gunicorn.poll() is not None

        assert wait_until(up, 60) and gunicorn.poll() is None, log_path.read_text(errors="replace")
        for key in keys:
            request = urllib.request.Request(
                base + alertmanager_url(token),
                data=json.dumps(firing(key)).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.status == 202
        os.killpg(gunicorn.pid, signal.SIGTERM)  # at once: whatever a buffer holds is published on exit
        gunicorn.wait(timeout=30)
        wait_processed(worker)
    finally:
        if gunicorn.poll() is None:
            os.killpg(gunicorn.pid, signal.SIGKILL)
            gunicorn.wait(timeout=10)
        worker.stop()
        purge_queue(redis_url, worker.queue)
    assert_processed_once(keys)
    batches = succeeded(worker, "incidents.tasks.process_raw_events")
    assert 1 <= batches < len(keys), worker.log_tail()
    assert succeeded(worker, "incidents.tasks.process_raw_event") == 0, "no task per event"
    access_log = log_path.read_text(errors="replace")
    assert access_log.count(f"/api/v1/ingest/alertmanager/{token[:8]}\u2026/") == len(keys), access_log[-2000:]
    assert token not in access_log
    assert integration.token_prefix == token[:8]
