"""Two beat runs at once claim each HTTP check run once and take each late heartbeat down once.

Real commits (transaction=True). On PostgreSQL the two runs are threads with
their own connections, started together on a barrier, so their conditional
UPDATEs race for the same rows. SQLite has one writer at a time and no row
locks, so there the runs go one after the other: the conditional UPDATE is
what holds either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import connection

from incidents.models import RawEvent
from monitoring.checks import services as checks
from monitoring.checks import tasks as check_tasks
from monitoring.models import CheckFlip, CheckStatus, Heartbeat, HttpCheck
from tests.concurrency import in_threads
from tests.factories import ServiceFactory
from tests.incidents.test_ingest_support import Broker, celery_broker

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
COUNT = 25


@pytest.fixture(autouse=True)
def broker(tmp_path: Path) -> Iterator[Broker]:
    """Commits run their on-commit enqueues for real here: send them to a folder of our own."""
    inspectable = Broker(tmp_path)
    with celery_broker("filesystem://", inspectable.transport_options):
        yield inspectable


def run_together(count: int, work: Callable[[], Any]) -> list[Any]:
    """Run work() in `count` threads started together, each on its own connection (PostgreSQL), else in turn."""
    if connection.vendor != "postgresql":
        return [work() for _ in range(count)]
    return in_threads(count, lambda _: work())


def test_two_beats_at_once_enqueue_each_due_run_once(broker: Broker) -> None:
    service = ServiceFactory.create()
    with time_machine.travel(T0, tick=False):
        created = [
            checks.http_check_create(service=service, name=f"check {n}", url=f"http://127.0.0.1:9/{n}")
            for n in range(COUNT)
        ]
        counts = run_together(2, check_tasks.enqueue_due_http_checks)

    assert sum(counts) == COUNT
    published = [task.args for task in broker.published() if task.name == "monitoring.check_tasks.run_http_check"]
    assert sorted(args[0] for args in published) == sorted(check.pk for check in created), "each run exactly once"
    assert {args[1] for args in published} == {T0.isoformat()}
    assert set(HttpCheck.objects.values_list("next_run_at", flat=True)) == {T0 + timedelta(seconds=60)}


def test_two_detectors_at_once_take_each_late_heartbeat_down_once() -> None:
    service = ServiceFactory.create()
    with time_machine.travel(T0, tick=False):
        beats = [
            checks.heartbeat_create(
                service=service, name=f"job {n}", period=timedelta(hours=1), grace=timedelta(minutes=5)
            )
            for n in range(COUNT)
        ]
        for heartbeat in beats:
            checks.heartbeat_ping(uuid=heartbeat.uuid, ping=checks.PingRequest(kind="success", method="GET"))

    # Late after T0 + 1 h 5 min; the detectors run one second later.
    with time_machine.travel(T0 + timedelta(hours=1, minutes=5, seconds=1), tick=False):
        counts = run_together(2, checks.detect_late_heartbeats)

    assert sum(counts) == COUNT
    assert set(Heartbeat.objects.values_list("status", flat=True)) == {CheckStatus.DOWN}
    assert CheckFlip.objects.filter(new_status=CheckStatus.DOWN).count() == COUNT
    keys = list(RawEvent.objects.filter(action="trigger").values_list("dedup_key", flat=True))
    assert sorted(keys) == sorted(heartbeat.alert_key for heartbeat in beats), "one alert per heartbeat"


def test_a_ping_racing_the_detector_either_wins_or_loses_cleanly() -> None:
    service = ServiceFactory.create()
    with time_machine.travel(T0, tick=False):
        heartbeat = checks.heartbeat_create(
            service=service, name="racer", period=timedelta(hours=1), grace=timedelta(minutes=5)
        )
        checks.heartbeat_ping(uuid=heartbeat.uuid, ping=checks.PingRequest(kind="success", method="GET"))

    def ping() -> int:
        checks.heartbeat_ping(uuid=heartbeat.uuid, ping=checks.PingRequest(kind="success", method="GET"))
        return 0

    calls = iter([checks.detect_late_heartbeats, ping])
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        run_together(2, lambda: next(calls)())

    heartbeat.refresh_from_db()
    actions = list(RawEvent.objects.filter(dedup_key=heartbeat.alert_key).values_list("action", flat=True))
    # Either the detector claimed it first (down, then the ping brings it up: trigger + resolve),
    # or the ping moved the deadline first (the detector's UPDATE matched nothing: no alert).
    assert heartbeat.status == CheckStatus.UP
    assert actions in (["trigger", "resolve"], [])
    assert CheckFlip.objects.filter(heartbeat=heartbeat, new_status=CheckStatus.DOWN).count() == len(actions) // 2
