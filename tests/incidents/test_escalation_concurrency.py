"""Two beat runs at once never notify twice, with real commits (transaction=True).

On PostgreSQL the runs are two threads with their own connections, started
together: each step is claimed with SELECT ... FOR UPDATE SKIP LOCKED and a
conditional UPDATE. SQLite has no row locks and one writer at a time, so there
the runs go one after the other (the conditional UPDATE is what holds).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine
from django.db import connection, connections

from incidents.models import Notification, TimelineEvent, TimelineKind
from incidents.oncall import escalation
from incidents.oncall import tasks as oncall_tasks
from tests.concurrency import in_threads

from .test_escalation_support import T0, make_world
from .test_ingest_support import Broker, celery_broker

pytestmark = pytest.mark.django_db(transaction=True)

INCIDENTS = 12


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def broker(tmp_path: Path) -> Iterator[Broker]:
    """Commits run their on-commit enqueues for real here: send them to a folder of our own."""
    inspectable = Broker(tmp_path)
    with celery_broker("filesystem://", inspectable.transport_options):
        yield inspectable


def test_two_beat_runs_at_once_send_one_notification_per_recipient() -> None:
    world = make_world()
    world.levels[0].users.set([world.bob])
    incidents = [world.incident(title=f"Errors {n}") for n in range(INCIDENTS)]

    if connection.vendor == "postgresql":
        results = in_threads(2, lambda _: oncall_tasks.escalate_due_incidents())
    else:
        results = [oncall_tasks.escalate_due_incidents(), oncall_tasks.escalate_due_incidents()]

    assert sum(result["steps"] for result in results) == INCIDENTS
    assert sum(result["errors"] for result in results) == 0
    for incident in incidents:
        rows = Notification.objects.filter(incident=incident)
        assert sorted(rows.values_list("recipient__username", flat=True)) == [world.alice.username, world.bob.username]
        entries = TimelineEvent.objects.filter(incident=incident, kind=TimelineKind.NOTIFICATION)
        assert entries.count() == 1


def test_a_step_locked_by_another_worker_is_skipped_not_waited_for() -> None:
    world = make_world()
    incident = world.incident()
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row locks: one writer at a time does the same job")
    holding = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        from django.db import transaction

        from incidents.models import Incident

        try:
            with transaction.atomic():
                Incident.objects.select_for_update().get(pk=incident.pk)
                holding.set()
                release.wait(timeout=20)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert holding.wait(timeout=10)
        assert escalation.escalate(incident_id=incident.pk, level=0, scheduled_at=T0) is None
    finally:
        release.set()
        holder.join(timeout=20)
    step = escalation.escalate(incident_id=incident.pk, level=0, scheduled_at=T0)
    assert step is not None and step.level == 1


def test_racing_steps_of_one_incident_notify_its_level_once() -> None:
    world = make_world()
    incident = world.incident()

    def step() -> int | None:
        result = escalation.escalate(incident_id=incident.pk, level=0, scheduled_at=T0)
        return result.level if result is not None else None

    racing = connection.vendor == "postgresql"
    results = in_threads(4, lambda _: step()) if racing else [step() for _ in range(4)]
    assert sorted(results, key=lambda r: r or 0) == [None, None, None, 1]
    assert Notification.objects.filter(incident=incident).count() == 1
