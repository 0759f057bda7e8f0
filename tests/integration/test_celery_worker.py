"""Real Celery round trips: a task enqueued here travels through a broker and a worker process runs it.

(a) Redis broker (OPSGOV_TEST_REDIS_URL, default redis://127.0.0.1:6379/13)
(b) the embedded filesystem broker, in a temporary OPSGOV_VAR_DIR
(c) `manage.py wait_for_worker` against the broker the settings configure

The worker writes to the pytest-django test database, so the tests use
transactional test cases: the worker's commits are visible here and the
tables are flushed afterwards.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from kombu import Connection, Exchange, Queue

from opsgov.celery import app as celery_app
from opsgov.models import WorkerHeartbeat
from opsgov.tasks import record_heartbeat

from .conftest import TASK_TIMEOUT, Worker, unique_queue, wait_until

pytestmark = pytest.mark.integration


def heartbeat_name() -> str:
    return f"it-{uuid.uuid4().hex[:12]}"


def wait_for_beats(name: str, beats: int, worker: Worker) -> WorkerHeartbeat:
    def arrived() -> bool:
        return WorkerHeartbeat.objects.filter(name=name, beats__gte=beats).exists()

    if not wait_until(arrived, TASK_TIMEOUT, interval=0.2):
        pytest.fail(
            f"No heartbeat {name!r} with {beats} beat(s) after {TASK_TIMEOUT:g} s "
            f"(worker exit code {worker.process.poll()}):\n{worker.log_tail()}",
            pytrace=False,
        )
    return WorkerHeartbeat.objects.get(name=name)


def assert_ran_in_worker(worker: Worker, task_ids: list[str]) -> None:
    log = worker.log()
    for task_id in task_ids:
        assert f"{record_heartbeat.name}[{task_id}] succeeded" in log, worker.log_tail()


def delete_queue(connection: Connection, queue: str) -> None:
    """Drop the test queue, its messages and its binding, so nothing is left on a shared broker."""
    channel = connection.default_channel
    bound = Queue(queue, Exchange(queue, type="direct"), routing_key=queue)(channel)
    bound.declare()  # known to this channel, so delete() also removes the broker-side binding
    bound.purge()
    bound.delete()
    if connection.transport.driver_type == "filesystem":
        # The filesystem transport empties the exchange's binding file but leaves it behind.
        control_folder = Path((connection.transport_options or {}).get("control_folder", "control"))
        (control_folder / f"{queue}.exchange").unlink(missing_ok=True)


def test_producer_is_not_eager() -> None:
    """Guard: the round-trip tests below would prove nothing with eager tasks."""
    assert not celery_app.conf.task_always_eager


@pytest.mark.django_db(transaction=True)
def test_worker_on_redis_runs_the_heartbeat_task(redis_url: str, start_worker) -> None:
    worker = start_worker(broker_url=redis_url)
    name = heartbeat_name()
    with Connection(redis_url) as connection:
        try:
            # What .delay() does, with the broker and the worker's queue named explicitly.
            producer = connection.Producer()
            first = record_heartbeat.apply_async(kwargs={"name": name}, queue=worker.queue, producer=producer)
            assert wait_for_beats(name, 1, worker).beats == 1
            second = record_heartbeat.apply_async(kwargs={"name": name}, queue=worker.queue, producer=producer)
            assert wait_for_beats(name, 2, worker).beats == 2  # an upsert: one row, counting beats
        finally:
            worker.stop()
            delete_queue(connection, worker.queue)
    assert WorkerHeartbeat.objects.filter(name=name).count() == 1
    assert_ran_in_worker(worker, [first.id, second.id])
    assert "Connected to redis://" in worker.log()


@pytest.mark.django_db(transaction=True)
def test_worker_on_the_filesystem_broker_runs_the_heartbeat_task(tmp_path: Path, start_worker) -> None:
    var_dir = tmp_path / "var"
    # No CELERY_BROKER_URL: the worker uses the settings' default, filesystem:// under OPSGOV_VAR_DIR.
    worker = start_worker(broker_url=None, var_dir=var_dir)
    # The producer side uses the very folders the worker's settings chose under OPSGOV_VAR_DIR.
    transport_options = worker.setting("CELERY_BROKER_TRANSPORT_OPTIONS")
    queue_dir = Path(transport_options["data_folder_in"])
    assert queue_dir.is_relative_to(var_dir), transport_options
    assert queue_dir.is_dir(), "settings should create the broker folders on import"
    for option in ("data_folder_out", "processed_folder", "control_folder"):
        if option in transport_options:
            assert Path(transport_options[option]).is_relative_to(var_dir), transport_options
    name = heartbeat_name()
    with Connection("filesystem://", transport_options=transport_options) as connection:
        producer = connection.Producer()
        result = record_heartbeat.apply_async(kwargs={"name": name}, queue=worker.queue, producer=producer)
        heartbeat = wait_for_beats(name, 1, worker)
    assert heartbeat.beats == 1
    assert_ran_in_worker(worker, [result.id])
    assert "Connected to filesystem://" in worker.log()
    assert not list(queue_dir.glob(f"*.{worker.queue}.msg")), "the worker should have consumed the message"


@pytest.mark.django_db(transaction=True)
def test_wait_for_worker_round_trip_on_the_configured_broker(start_worker) -> None:
    import os

    # Same broker as this process: CELERY_BROKER_URL if set, else filesystem:// under the same OPSGOV_VAR_DIR.
    worker = start_worker(broker_url=os.environ.get("CELERY_BROKER_URL") or None)
    out = io.StringIO()
    try:
        call_command("wait_for_worker", "--timeout", str(TASK_TIMEOUT), "--queue", worker.queue, stdout=out)
    finally:
        worker.stop()
        with celery_app.connection_for_write() as connection:
            delete_queue(connection, worker.queue)
    assert "Worker round trip OK" in out.getvalue()
    assert not WorkerHeartbeat.objects.filter(name__startswith="probe-").exists(), "the probe row is cleaned up"
    assert f"{record_heartbeat.name}[" in worker.log()


@pytest.mark.django_db
def test_wait_for_worker_times_out_without_a_worker() -> None:
    queue = unique_queue()  # nobody consumes it
    out = io.StringIO()
    try:
        with pytest.raises(CommandError, match=r"Timed out after 1 s: no Celery worker recorded heartbeat"):
            call_command("wait_for_worker", "--timeout", "1", "--queue", queue, stdout=out)
    finally:
        with celery_app.connection_for_write() as connection:
            delete_queue(connection, queue)
    assert "Enqueueing opsgov.tasks.record_heartbeat" in out.getvalue()
