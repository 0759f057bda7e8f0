"""The SLO engine with real commits (transaction=True) and a second connection: no lost SLI write, one cycle at a time.

PostgreSQL only: SQLite serialises writers (IMMEDIATE transactions), so a
refresh cannot run while an intake transaction is open and the interleavings
below cannot happen there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, connections, transaction

from monitoring.models import SLIHourRollup, SLOStatus
from monitoring.slos import engine
from monitoring.slos.sli import SLIReading, record_sli

from .support import make_slo

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers (PostgreSQL)"),
]

NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
HOUR = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # a past hour: its rollup is computed at once


def in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def test_a_write_committing_during_a_refresh_is_counted_by_the_next_cycle() -> None:
    """The refresh reads the hour's marker, then a write of the same hour commits: its own marker survives."""
    slo = make_slo()
    record_sli(slo=slo, readings=[SLIReading(HOUR, 10, 10)], now=NOW)  # marker 1 for 10:00, committed
    written = threading.Event()
    release = threading.Event()

    def late_write() -> None:
        with transaction.atomic():
            record_sli(slo=slo, readings=[SLIReading(HOUR + timedelta(minutes=1), 5, 10)], now=NOW)  # marker 2
            written.set()
            release.wait(timeout=10)  # still uncommitted while the cycle runs

    thread, errors = in_thread(late_write)
    assert written.wait(timeout=10)
    engine.evaluate_slos(now=NOW)  # sees marker 1 and the first bucket only; deletes marker 1 alone
    assert (SLIHourRollup.objects.get(slo=slo).total, SLOStatus.objects.get(slo=slo).total) == (10, 10)
    release.set()
    thread.join(timeout=10)
    assert not errors
    result = engine.evaluate_slos(now=NOW)
    assert result.refresh is not None and result.refresh.hours == 1
    hour = SLIHourRollup.objects.get(slo=slo)
    assert (hour.good, hour.total) == (15, 20)
    assert SLOStatus.objects.get(slo=slo).total == 20


def test_a_beat_cycle_finding_one_running_skips_it() -> None:
    slo = make_slo()
    engine.evaluate_slos(now=NOW - timedelta(minutes=1))
    locked = threading.Event()
    release = threading.Event()

    def running_cycle() -> None:
        with transaction.atomic():
            engine.lock_engine()
            locked.set()
            release.wait(timeout=10)

    thread, errors = in_thread(running_cycle)
    assert locked.wait(timeout=10)
    assert engine.evaluate_slos(now=NOW, wait=False).skipped
    release.set()
    thread.join(timeout=10)
    assert not errors
    result = engine.evaluate_slos(now=NOW, wait=False)
    assert (result.skipped, result.evaluated) == (False, 1)
    assert SLOStatus.objects.filter(slo=slo).exists()
