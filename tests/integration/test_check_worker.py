"""The HTTP check path through a real Celery worker: the beat task here claims and enqueues the due runs,
a worker process requests a real HTTP server on loopback and records the results in the test database."""

from __future__ import annotations

from typing import Any

import pytest

from monitoring.checks import services as checks
from monitoring.checks import tasks as check_tasks
from monitoring.models import CheckStatus, HttpCheck, HttpCheckResult
from opsgov.celery import app as celery_app
from tests.factories import ServiceFactory
from tests.monitoring.check_support import loopback_server

from .conftest import TASK_TIMEOUT, CeleryProducer, purge_queue, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_worker_runs_the_claimed_checks_once(
    redis_url: str, start_worker: Any, celery_producer: CeleryProducer
) -> None:
    worker = start_worker(broker_url=redis_url)
    celery_producer.point(redis_url, queue=worker.queue)
    celery_app.conf.update(task_routes={"monitoring.check_tasks.*": {"queue": worker.queue}})
    try:
        with loopback_server() as server:
            service = ServiceFactory.create()
            ok = checks.http_check_create(service=service, name="ok", url=server.url("/ok"), timeout_ms=5000)
            no_content = checks.http_check_create(
                service=service, name="204", url=server.url("/status/204"), timeout_ms=5000
            )
            assert check_tasks.enqueue_due_http_checks() == 2
            assert check_tasks.enqueue_due_http_checks() == 0, "the runs are claimed: a second beat adds nothing"

            def recorded() -> bool:
                return HttpCheckResult.objects.count() >= 2

            if not wait_until(recorded, TASK_TIMEOUT):
                pytest.fail(f"The worker recorded no results:\n{worker.log_tail()}", pytrace=False)
            assert sorted(server.requests) == [("GET", "/ok"), ("GET", "/status/204")]
    finally:
        purge_queue(redis_url, worker.queue)

    assert "monitoring.check_tasks.run_http_check" in worker.log()
    results = {result.http_check_id: result for result in HttpCheckResult.objects.all()}
    assert (results[ok.pk].ok, results[ok.pk].status_code) == (True, 200)
    assert (results[no_content.pk].ok, results[no_content.pk].status_code) == (True, 204)
    assert set(HttpCheck.objects.values_list("status", flat=True)) == {CheckStatus.UP}
