"""Ingestion under concurrency and broker outages, with real commits (transaction=True).

Threads use separate database connections, so on PostgreSQL the row locks and
the partial unique constraint are what keep one incident per key; on SQLite
(IMMEDIATE transactions) writers are serialised and the same assertions hold.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
import time_machine
from django.db import connection, transaction

from incidents import services, tasks
from incidents.ingest import services as ingestion
from incidents.models import Incident, Integration, RawEvent, TimelineKind
from tests.concurrency import in_threads

from .test_ingest_support import (
    NOW,
    PD_KEY,
    UNREACHABLE_BROKER,
    Broker,
    alertmanager_url,
    celery_broker,
    make_integration,
    open_incidents,
    pagerduty_url,
    payload,
    post,
)

pytestmark = pytest.mark.django_db(transaction=True)

T = TypeVar("T")


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def broker(tmp_path: Path) -> Iterator[Broker]:
    """Commits run their on-commit enqueues for real here: send them to a folder of our own."""
    inspectable = Broker(tmp_path)
    with celery_broker("filesystem://", inspectable.transport_options):
        yield inspectable


def test_the_same_payload_sent_ten_times_at_once_leaves_one_open_incident(broker: Broker) -> None:
    integration, token = make_integration("alertmanager")
    url = alertmanager_url(token)
    statuses = in_threads(10, lambda _: post(url, payload("alertmanager-v4-firing")).status_code)
    assert statuses == [202] * 10
    event_ids = list(RawEvent.objects.order_by("id").values_list("id", flat=True))
    assert len(event_ids) == 10
    assert sorted(task.args[0] for task in broker.published()) == event_ids  # each enqueued after its commit

    applied = in_threads(10, lambda index: tasks.process_raw_event(event_ids[index]))
    assert sum(applied) == 10  # each event applied exactly once, whichever task did it
    (incident,) = open_incidents(integration)
    assert Incident.objects.count() == 1
    assert incident.timeline.filter(kind=TimelineKind.SIGNAL).count() == 2
    # Every delivery counted on its alerts' rows, none lost to a concurrent update (the incident's row lock).
    assert sorted(incident.alert_signals.values_list("count", flat=True)) == [10, 10]
    assert not RawEvent.objects.filter(processed_at__isnull=True).exists()


def test_a_worker_that_loses_the_race_to_open_the_incident_joins_the_winner(caplog: pytest.LogCaptureFixture) -> None:
    """Two transactions both see no open incident; the second insert hits the partial unique constraint."""
    integration, _ = make_integration("pagerduty")
    inserted = threading.Event()
    release = threading.Event()

    def create() -> Incident:
        return services.incident_create(
            title="race", service=integration.service, severity="SEV-2", integration=integration, dedup_key=PD_KEY
        )

    def winner(_: int) -> int:
        with transaction.atomic():
            incident = ingestion._open_or_create(integration, integration.service, PD_KEY, create)
            inserted.set()
            release.wait(timeout=10)  # hold the transaction open while the loser tries
        return incident.pk

    def loser(_: int) -> int:
        inserted.wait(timeout=10)
        if connection.vendor == "postgresql":
            threading.Timer(0.5, release.set).start()  # the loser's insert waits on the winner's row meanwhile
        else:
            release.set()  # SQLite serialises writers: the loser starts after the winner commits
        with transaction.atomic():
            return ingestion._open_or_create(integration, integration.service, PD_KEY, create).pk

    with caplog.at_level("INFO", logger="incidents.ingest.services"):
        results = in_threads(2, lambda index: (winner if index == 0 else loser)(index))
    assert results[0] == results[1]
    assert Incident.objects.count() == 1
    if connection.vendor == "postgresql":  # the constraint, not luck, decided it
        assert "Lost the race to open an incident" in caplog.text


def test_a_broker_outage_still_answers_202_and_the_sweeper_enqueues_later(
    clock: time_machine.Traveller, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, token = make_integration("pagerduty")
    with celery_broker(UNREACHABLE_BROKER), caplog.at_level("WARNING", logger="incidents.ingest.enqueue"):
        response = post(pagerduty_url(token), payload("pagerduty-v2-trigger"))
    assert response.status_code == 202
    event = RawEvent.objects.get()
    assert event.processed_at is None
    assert f"Could not enqueue processing of raw event {event.pk}" in caplog.text

    # The broker is back; beat runs the sweeper, which enqueues what is over 30 s old.
    restored = Broker(tmp_path / "restored")
    with celery_broker("filesystem://", restored.transport_options):
        assert tasks.sweep_raw_events() == 0  # too recent yet
        clock.move_to(NOW + timedelta(seconds=31))
        assert tasks.sweep_raw_events() == 1
    assert [(task.name, task.args) for task in restored.published()] == [
        ("incidents.tasks.process_raw_event", [event.pk])
    ]
    assert tasks.process_raw_event(event.pk) == 1
    assert Incident.objects.get().dedup_key == PD_KEY


def test_a_sweep_during_an_outage_enqueues_nothing_and_tries_again_later(clock: time_machine.Traveller) -> None:
    integration, _ = make_integration("pagerduty")
    RawEvent.objects.create(integration=integration, dedup_key=PD_KEY, action="trigger", payload={})
    clock.move_to(NOW + timedelta(seconds=31))
    with celery_broker(UNREACHABLE_BROKER):
        assert tasks.sweep_raw_events() == 0
    clock.move_to(NOW + timedelta(seconds=62))
    assert ingestion.claim_stale_raw_events() == [RawEvent.objects.get().pk]


def test_an_integration_row_is_not_needed_in_memory_between_requests() -> None:
    """Tokens are checked against the database on every request: a disabled integration stops at once."""
    integration, token = make_integration("alertmanager")
    assert post(alertmanager_url(token), payload("alertmanager-v4-firing")).status_code == 202
    Integration.objects.filter(pk=integration.pk).update(enabled=False)
    assert post(alertmanager_url(token), payload("alertmanager-v4-firing")).status_code == 403
