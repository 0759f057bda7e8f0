"""The owner hears of a failed or missed run once per episode, by e-mail through the outbox (backups.notices):
the notice is written with the failure, sent to a real SMTP server on loopback, retried when that server is
down, and, end to end, delivered by a real Celery worker after a /fail ping."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.cache import cache

from backups import notices, services
from backups.models import BackupFailureNotice, BackupJob, BackupRun, RunStatus
from opsgov.celery import app as celery_app
from opsgov.models import OutboxStatus
from opsgov.roles import SRE_LEAD

from ..conftest import Sink, free_port
from ..integration.conftest import (  # noqa: F401  (fixtures: a real worker on the test database)
    TASK_TIMEOUT,
    CeleryProducer,
    Worker,
    celery_producer,
    purge_queue,
    redis_url,
    start_worker,
    test_database_url,
    unique_queue,
    wait_until,
)
from ..integration.test_gate_notifications import smtp_sink  # noqa: F401  (an SMTP server the worker sends to)
from .support import PingClient, make_job

T0 = datetime(2026, 11, 20, 12, 10, tzinfo=UTC)


def _job(owner: User | None) -> BackupJob:
    job = make_job(owner=owner)
    BackupJob.objects.filter(pk=job.pk).update(created_at=datetime(2026, 11, 20, 6, 40, tzinfo=UTC))
    job.refresh_from_db()
    return job


def _ping(client: PingClient, job: BackupJob, clock: time_machine.Traveller, at: datetime, action: str) -> None:
    clock.move_to(at)
    assert client.get(f"/ping/{job.uuid}/{action}").status_code == 200


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.mark.django_db
def test_one_notice_per_episode_failed_and_missed_runs_alike(
    clock: time_machine.Traveller, make_user: Callable[..., User]
) -> None:
    owner = make_user("owner", SRE_LEAD, email="owner@example.com")
    job = _job(owner)
    client = PingClient()
    _ping(client, job, clock, datetime(2026, 11, 20, 7, 5, tzinfo=UTC), "0")
    assert not BackupFailureNotice.objects.exists()

    _ping(client, job, clock, datetime(2026, 11, 20, 8, 2, tzinfo=UTC), "1")  # the episode starts
    _ping(client, job, clock, datetime(2026, 11, 20, 9, 3, tzinfo=UTC), "fail")  # same episode
    services.reconcile(now=T0)  # 10:00 and 11:00 missed: same episode
    assert BackupRun.objects.filter(job=job, status=RunStatus.MISSED).count() == 2
    notice = BackupFailureNotice.objects.get()
    first_failure = BackupRun.objects.get(job=job, exit_status=1)
    assert notice.run == first_failure and notice.job == job
    assert notice.recipients == ["owner@example.com"]
    assert notice.status == OutboxStatus.PENDING and notice.attempts == 0
    assert "failed" in notice.subject and job.name in notice.subject
    assert "exit status: 1" in notice.body.lower()
    job.refresh_from_db()
    assert job.failure_notified_at == datetime(2026, 11, 20, 8, 2, tzinfo=UTC)

    _ping(client, job, clock, datetime(2026, 11, 20, 12, 5, tzinfo=UTC), "0")  # the episode ends
    job.refresh_from_db()
    assert job.failure_notified_at is None
    services.reconcile(now=datetime(2026, 11, 20, 16, 20, tzinfo=UTC))  # 13:00-15:00 missed: a new episode
    assert BackupRun.objects.filter(job=job, status=RunStatus.MISSED).count() == 5
    second = BackupFailureNotice.objects.exclude(pk=notice.pk).get()
    assert second.run is not None and second.run.status == RunStatus.MISSED
    assert second.run.slot == datetime(2026, 11, 20, 13, tzinfo=UTC)
    assert "did not run" in second.body and "13:00" in second.body


@pytest.mark.django_db
def test_without_an_owner_the_service_owner_team_is_told_and_with_neither_nobody(
    clock: time_machine.Traveller,
) -> None:
    job = _job(None)
    team = job.service.owner_team
    team.email = "team@example.com"
    team.save()
    _ping(PingClient(), job, clock, datetime(2026, 11, 20, 11, 2, tzinfo=UTC), "fail")
    assert BackupFailureNotice.objects.get().recipients == ["team@example.com"]

    other = _job(None)
    other.service.owner_team.email = ""
    other.service.owner_team.save()
    _ping(PingClient(), other, clock, datetime(2026, 11, 20, 11, 3, tzinfo=UTC), "fail")
    assert BackupFailureNotice.objects.count() == 1
    other.refresh_from_db()
    assert other.failure_notified_at is not None  # the episode is still counted once


@pytest.mark.django_db
def test_delivery_to_a_real_smtp_server_and_a_retry_while_it_is_down(
    clock: time_machine.Traveller, make_user: Callable[..., User], smtp_server: Sink, settings: object
) -> None:
    job = _job(make_user("owner", SRE_LEAD, email="owner@example.com"))
    _ping(PingClient(), job, clock, datetime(2026, 11, 20, 11, 2, tzinfo=UTC), "3")
    notice = BackupFailureNotice.objects.get()

    port = settings.EMAIL_PORT  # type: ignore[attr-defined]
    settings.EMAIL_PORT = free_port()  # type: ignore[attr-defined]  # nobody listens there
    assert notices.deliver(notice.pk) == OutboxStatus.RETRYING
    notice.refresh_from_db()
    assert notice.attempts == 1 and "Connection refused" in notice.last_error
    assert notices.deliver(notice.pk) == "not claimed"  # its retry is not due yet
    assert smtp_server.messages == []

    settings.EMAIL_PORT = port  # type: ignore[attr-defined]
    clock.shift(timedelta(minutes=1, seconds=1))
    assert notices.deliver(notice.pk) == OutboxStatus.SENT
    assert notices.deliver(notice.pk) == "not claimed"  # sent once
    (sender, recipients, raw) = smtp_server.messages[0]
    assert len(smtp_server.messages) == 1
    assert recipients == ["owner@example.com"] and sender == "opsgov@example.com"
    message = message_from_bytes(raw)
    assert message["X-Opsgov-Backup-Job"] == str(job.uuid)
    assert message["Subject"] == f"[opsgov] Backup {job.name} of {job.service.name}: failed"
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode()
    assert f"https://ops.example.com/backups/jobs/{job.pk}/" in body
    notice.refresh_from_db()
    assert notice.status == OutboxStatus.SENT and notice.attempts == 2 and notice.last_error == ""


@pytest.fixture
def worker(
    smtp_sink: Sink,  # noqa: F811
    redis_url: str,  # noqa: F811
    start_worker: Callable[..., Worker],  # noqa: F811
    celery_producer: CeleryProducer,  # noqa: F811
) -> Iterator[Worker]:
    started = start_worker(broker_url=redis_url, queue=unique_queue())
    celery_producer.point(redis_url, queue=started.queue)
    celery_app.conf.update(task_routes={"backups.*": {"queue": started.queue}})
    try:
        yield started
    finally:
        purge_queue(redis_url, started.queue)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_fail_ping_reaches_the_owner_through_a_real_worker_once_per_episode(
    worker: Worker,
    smtp_sink: Sink,  # noqa: F811
    make_user: Callable[..., User],
) -> None:
    owner = make_user("owner", SRE_LEAD, email="owner@example.com")
    job = make_job(owner=owner)
    # The pings are applied here (PingClient), so the notice's delivery is published from this process, to
    # the test worker's queue; the apply task a ping would enqueue is held back (its debounce key is set).
    cache.add("backups:apply-pings", 1, timeout=600)
    client = PingClient()
    assert client.post(f"/ping/{job.uuid}/fail", data=b"disk full", content_type="text/plain").status_code == 200
    assert wait_until(lambda: len(smtp_sink.messages) == 1, TASK_TIMEOUT), worker.log_tail()
    (_, recipients, raw) = smtp_sink.messages[0]
    assert recipients == ["owner@example.com"]
    assert job.name.encode() in raw and b"failed" in raw
    assert wait_until(
        lambda: BackupFailureNotice.objects.filter(status=OutboxStatus.SENT).count() == 1, TASK_TIMEOUT
    ), worker.log_tail()

    applying = client
    assert applying.get(f"/ping/{job.uuid}/2").status_code == 200  # the same episode: no second e-mail
    assert BackupFailureNotice.objects.count() == 1
    assert applying.get(f"/ping/{job.uuid}").status_code == 200  # success ends it
    assert applying.get(f"/ping/{job.uuid}/fail").status_code == 200  # a new episode
    assert wait_until(lambda: len(smtp_sink.messages) == 2, TASK_TIMEOUT), worker.log_tail()
    assert len(smtp_sink.messages) == 2
