"""SLO engine rollups: windows read as a few ranges, refreshed from dirty hours only, a fixed number of queries."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from monitoring.models import SLO, SLIBucket, SLIDayRollup, SLIDirtyHour, SLIHourRollup, SLOEngineState, SLOStatus
from monitoring.slos import engine
from monitoring.slos.engine import Segment, decompose, window_label, window_sums
from monitoring.slos.sli import SLIReading, record_sli

from .support import make_slo, series

NOW = datetime(2026, 11, 20, 10, 7, 30, tzinfo=UTC)
END = datetime(2026, 11, 20, 10, 7, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: int = 20) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_a_three_day_window_is_read_as_buckets_hours_days_hours_buckets() -> None:
    assert decompose(END - timedelta(days=3), END) == [
        Segment("bucket", at(10, 7, day=17), at(11, day=17)),
        Segment("hour", at(11, day=17), at(0, day=18)),
        Segment("day", at(0, day=18), at(0, day=20)),
        Segment("hour", at(0), at(10)),
        Segment("bucket", at(10), END),
    ]


def test_short_windows_stay_in_buckets_and_hour_aligned_ones_need_none() -> None:
    assert decompose(END - timedelta(minutes=5), END) == [Segment("bucket", at(10, 2), END)]
    assert decompose(at(9), at(10)) == [Segment("hour", at(9), at(10))]
    # No whole UTC day inside: one hour range across midnight.
    assert decompose(at(22, day=19), at(10)) == [Segment("hour", at(22, day=19), at(10))]
    assert decompose(END, END) == []


def test_window_labels_use_the_largest_whole_unit() -> None:
    assert [window_label(length) for length in engine.BURN_RATE_WINDOWS] == ["5m", "30m", "1h", "6h", "1d", "3d"]
    assert window_label(timedelta(minutes=90)) == "90m"
    assert window_label(timedelta(hours=48)) == "2d"


@pytest.mark.django_db
def test_window_sums_equal_the_sums_of_the_buckets_for_any_window() -> None:
    rng = random.Random(5)  # noqa: S311 - test data, deterministic on purpose
    slos = [make_slo(name=f"SLO {index}") for index in range(2)]
    start = at(0, day=16)
    for slo in slos:
        readings = []
        for minute in range(0, 4 * 1440 + 10 * 60, 7):  # every 7 minutes across 4 days and 10 hours
            total = rng.randint(0, 50)
            readings.append(SLIReading(start + timedelta(minutes=minute), rng.randint(0, total), total))
        record_sli(slo=slo, readings=readings, now=NOW)
    engine.refresh_rollups()
    ranges = {}
    for index in range(12):
        first = start + timedelta(minutes=rng.randint(0, 3 * 1440))
        ranges[f"r{index}"] = (first, first + timedelta(minutes=rng.randint(1, 2 * 1440)))
    ranges["all"] = (start - timedelta(days=1), NOW)
    sums = window_sums(ranges, {label: [slo.pk for slo in slos] for label in ranges})
    for label, (first, last) in ranges.items():
        for slo in slos:
            expected = SLIBucket.objects.filter(slo=slo, start__gte=first, start__lt=last).aggregate(
                good=Sum("good"), total=Sum("total")
            )
            assert sums[label].get(slo.pk, (0, 0)) == (expected["good"] or 0, expected["total"] or 0), label


@pytest.mark.django_db
def test_a_new_minute_costs_no_rollup_until_its_hour_is_over_then_one_hour_and_one_day() -> None:
    slos = [make_slo(name=f"SLO {index}") for index in range(3)]
    for slo in slos:
        series(slo, END - timedelta(days=2), 2 * 1440, good=99, total=100, now=NOW)
    with time_machine.travel(NOW, tick=False):
        first = engine.evaluate_slos()
    assert first.refresh is not None and first.refresh.full, "the first cycle builds every rollup"
    assert SLIHourRollup.objects.count() == 3 * 49  # 2 days from 10:07 span 49 UTC hours
    assert not SLIDirtyHour.objects.exists()

    # A new minute (10:07) in the current hour: read from the buckets, its hour's rollup waits.
    record_sli(slo=slos[0], readings=[SLIReading(END, 50, 100)], now=NOW + timedelta(minutes=1))
    second = engine.evaluate_slos(now=NOW + timedelta(minutes=1))
    assert second.refresh is not None
    assert (second.refresh.full, second.refresh.hours, second.refresh.days) == (False, 0, 0)
    assert SLIDirtyHour.objects.count() == 1
    # The 5m window [10:03, 10:08) holds 4 minutes at 1 bad of 100 and the new one at 50 bad:
    # 54 bad of 500 at 99.9 % -> (54 / 500) / 0.001 = 108.
    assert SLOStatus.objects.get(slo=slos[0]).burn_rates["5m"] == pytest.approx(108.0)

    # The hour is over: its rollup is recomputed once, and its day adjusted.
    third = engine.evaluate_slos(now=at(11, 0) + timedelta(seconds=30))
    assert third.refresh is not None
    assert (third.refresh.full, third.refresh.hours, third.refresh.days) == (False, 1, 1)
    assert not SLIDirtyHour.objects.exists()
    hour = SLIHourRollup.objects.get(slo=slos[0], start=at(10))
    # 10:00 .. 10:06 from the history (7 x 99 of 100) plus the new 10:07 (50 of 100).
    assert (hour.good, hour.total) == (7 * 99 + 50, 800)
    day = SLIDayRollup.objects.get(slo=slos[0], start=at(0))
    # Nov 20 00:00 .. 10:06 from the history (607 minutes x 99 of 100) plus 10:07.
    assert (day.good, day.total) == (607 * 99 + 50, 60_800)
    state = SLOEngineState.objects.get()
    assert (state.last_full, state.last_hours, state.last_slos) == (False, 1, 3)


@pytest.mark.django_db
def test_a_bucket_sent_again_replaces_its_share_of_the_rollups() -> None:
    slo = make_slo()
    record_sli(slo=slo, readings=[SLIReading(at(9, 15), 90, 100), SLIReading(at(9, 16), 100, 100)], now=NOW)
    engine.evaluate_slos(now=NOW)
    record_sli(slo=slo, readings=[SLIReading(at(9, 15), 10, 100)], now=NOW)  # a correction
    engine.evaluate_slos(now=NOW)
    hour = SLIHourRollup.objects.get(slo=slo)
    day = SLIDayRollup.objects.get(slo=slo)
    assert (hour.good, hour.total) == (110, 200)
    assert (day.good, day.total) == (110, 200)
    assert SLOStatus.objects.get(slo=slo).good == 110


@pytest.mark.django_db
def test_incremental_rollups_equal_a_rebuild_from_scratch() -> None:
    rng = random.Random(11)  # noqa: S311 - test data, deterministic on purpose
    slo = make_slo()
    engine.evaluate_slos(now=NOW)
    for _ in range(6):  # batches landing in random hours, some overlapping earlier ones
        base = at(0, day=17) + timedelta(minutes=rng.randint(0, 3 * 1440))
        readings = [SLIReading(base + timedelta(minutes=m), rng.randint(0, 10), 10) for m in range(0, 90, 3)]
        record_sli(slo=slo, readings=readings, now=NOW)
        engine.evaluate_slos(now=NOW)
    incremental = (
        sorted(SLIHourRollup.objects.values_list("start", "good", "total")),
        sorted(SLIDayRollup.objects.values_list("start", "good", "total")),
    )
    result = engine.rebuild_rollups()
    assert result.full
    rebuilt = (
        sorted(SLIHourRollup.objects.values_list("start", "good", "total")),
        sorted(SLIDayRollup.objects.values_list("start", "good", "total")),
    )
    assert incremental == rebuilt
    assert len(rebuilt[0]) > 6


@pytest.mark.django_db
def test_a_large_backfill_rebuilds_instead_of_refreshing_hour_by_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    slo = make_slo()
    engine.evaluate_slos(now=NOW)
    monkeypatch.setattr(engine, "REBUILD_ABOVE_PAIRS", 10)
    series(slo, END - timedelta(days=1), 1440, good=1, total=1, now=NOW)  # 24 or 25 hours marked
    result = engine.evaluate_slos(now=NOW)
    assert result.refresh is not None and result.refresh.full
    assert SLOStatus.objects.get(slo=slo).total == 1440


def _steady_cycle_queries(slo_count: int) -> int:
    """Queries of a cycle after one new minute for each of `slo_count` SLOs with 3 hours of history."""
    slos = [make_slo(name=f"SLO {slo_count}-{index}") for index in range(slo_count)]
    for slo in slos:
        series(slo, END - timedelta(hours=3), 180, good=100, total=100, now=NOW)
    engine.evaluate_slos(now=NOW)
    for slo in slos:
        # A late correction of an earlier hour, so the cycle recomputes rollups too.
        record_sli(slo=slo, readings=[SLIReading(at(8, 30), 100, 100)], now=NOW + timedelta(minutes=1))
    with CaptureQueriesContext(connection) as queries:
        result = engine.evaluate_slos(now=NOW + timedelta(minutes=1))
    assert result.refresh is not None and result.refresh.hours == slo_count
    assert result.evaluated == slo_count
    return len(queries)


@pytest.mark.django_db
def test_a_cycle_issues_the_same_number_of_queries_for_2_or_12_slos(django_assert_max_num_queries) -> None:
    few = _steady_cycle_queries(2)
    SLO.objects.all().delete()
    many = _steady_cycle_queries(12)
    assert few == many
    with django_assert_max_num_queries(45):
        engine.evaluate_slos(now=NOW + timedelta(minutes=1))


def test_refresh_batches_stay_within_the_parameter_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection.features, "max_query_params", 20)  # 10 usable: 8 ids + 2 per group
    periods = {at(9): set(range(1, 20)), at(10): {5}}
    batches = list(engine._batches(periods))
    assert [[(start, ids) for start, ids in batch] for batch in batches] == [
        [(at(9), [1, 2, 3, 4, 5, 6, 7, 8])],
        [(at(9), [9, 10, 11, 12, 13, 14, 15, 16])],
        [(at(9), [17, 18, 19]), (at(10), [5])],
    ]
