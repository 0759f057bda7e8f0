"""MTTA, MTTR and MTBF (incidents.metrics): hand-computed figures, rollup refresh, command, selectors.

The fixture's timestamps are chosen so that every expected figure below is worked
out by hand in the comments. NOW is Friday 2026-11-20 12:00 UTC, so the windows are

    7d  = [Fri 2026-11-13 12:00, Fri 2026-11-20 12:00]   (604 800 s)
    30d = [Wed 2026-10-21 12:00, Fri 2026-11-20 12:00]   (2 592 000 s)

Teams and services: "payments" owns checkout and billing; "platform" owns search
and docs (docs never has an incident). Incidents (ack / resolve are delays after
the trigger; "-" = never):

    id  service   sev    triggered         ack     resolved           note
    C1  checkout  SEV-1  11-18 12:00       2 min   +1 h (13:00)
    C2  checkout  SEV-2  11-17 12:00       5 min   +3 h (15:00)
    C3  checkout  SEV-3  11-19 12:00       11 min  +2 h
    C4  checkout  SEV-3  11-20 08:00       -       -                  open, unacknowledged
    C5  checkout  SEV-1  11-19 12:00       1 min   -                  cancelled: excluded everywhere
    C6  checkout  SEV-2  11-13 10:00       30 min  11-13 16:00 (+6 h)  straddles the 7d start
    B1  billing   SEV-1  11-18 12:30       3 min   +1.5 h (14:00)     overlaps C1
    B2  billing   SEV-2  11-20 10:00       10 min  -                  open: down until NOW (2 h)
    S1  search    SEV-3  11-15 12:00       20 min  +45 min
    S2  search    SEV-4  11-13 13:00       -       +10 min            resolved without an ack
    S3  search    SEV-1  10-31 12:00       4 min   +2 h               only in the 30d window
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from incidents import metrics, services
from incidents.metrics import refresh_rollups
from incidents.models import Incident, IncidentDayRollup, IncidentRollupState
from incidents.selectors import (
    latest_incident_snapshots,
    service_incident_metrics,
    team_incident_metrics,
)
from opsgov import services as core_services
from opsgov.evidence import evidence_deletion
from opsgov.formatting import format_duration
from opsgov.models import MetricSnapshot, Service
from opsgov.registry import MetricValue

from ..factories import ServiceFactory, TeamFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MIN = 60.0
HOUR = 3600.0
WEEK = 7 * 24 * HOUR
MONTH = 30 * 24 * HOUR


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def at(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def make(
    service: Service,
    severity: str,
    triggered: datetime,
    *,
    ack: float | None = None,
    resolve: float | None = None,
    cancel: bool = False,
) -> Incident:
    """An incident through the lifecycle services; `ack` and `resolve` are seconds after the trigger."""
    incident = services.incident_create(title="x", service=service, severity=severity, triggered_at=triggered)
    if ack is not None:
        incident = services.incident_acknowledge(incident=incident, at=triggered + timedelta(seconds=ack))
    if resolve is not None:
        incident = services.incident_resolve(incident=incident, at=triggered + timedelta(seconds=resolve))
    if cancel:
        incident = services.incident_cancel(incident=incident, reason="false alarm")
    return incident


@pytest.fixture
def world() -> dict[str, Any]:
    payments = TeamFactory.create(slug="payments")
    platform = TeamFactory.create(slug="platform")
    checkout = ServiceFactory.create(slug="checkout", owner_team=payments)
    billing = ServiceFactory.create(slug="billing", owner_team=payments)
    search = ServiceFactory.create(slug="search", owner_team=platform)
    docs = ServiceFactory.create(slug="docs", owner_team=platform)
    incidents = {
        "C1": make(checkout, "SEV-1", at(11, 18), ack=2 * MIN, resolve=1 * HOUR),
        "C2": make(checkout, "SEV-2", at(11, 17), ack=5 * MIN, resolve=3 * HOUR),
        "C3": make(checkout, "SEV-3", at(11, 19), ack=11 * MIN, resolve=2 * HOUR),
        "C4": make(checkout, "SEV-3", at(11, 20, 8)),
        "C5": make(checkout, "SEV-1", at(11, 19), ack=1 * MIN, cancel=True),
        "C6": make(checkout, "SEV-2", at(11, 13, 10), ack=30 * MIN, resolve=6 * HOUR),
        "B1": make(billing, "SEV-1", at(11, 18, 12, 30), ack=3 * MIN, resolve=1.5 * HOUR),
        "B2": make(billing, "SEV-2", at(11, 20, 10), ack=10 * MIN),
        "S1": make(search, "SEV-3", at(11, 15), ack=20 * MIN, resolve=45 * MIN),
        "S2": make(search, "SEV-4", at(11, 13, 13), resolve=10 * MIN),
        "S3": make(search, "SEV-1", at(10, 31), ack=4 * MIN, resolve=2 * HOUR),
    }
    return {"services": {s.slug: s for s in (checkout, billing, search, docs)}, **incidents}


def figures(metric: str, window: str, now: datetime = NOW) -> dict[str, MetricValue]:
    compute = {"mtta": metrics.compute_mtta, "mttr": metrics.compute_mttr, "mtbf": metrics.compute_mtbf}[metric]
    refresh_rollups()
    return {value.scope: value for value in compute(window=window, now=now)}


def check(value: MetricValue, expected: float | None, n: int, **details: Any) -> None:
    assert value.value == (None if expected is None else pytest.approx(expected)), value
    assert value.sample_size == n, value
    for key, figure in details.items():
        assert value.details[key] == (
            figure if figure is None or isinstance(figure, bool | str) else pytest.approx(figure)
        ), (key, value)


# --- MTTA --------------------------------------------------------------------------------


def test_mtta_per_service_with_percentiles_and_unacknowledged(world: dict[str, Any]) -> None:
    mtta = figures("mtta", "7d")
    # checkout, triggered in the 7d window: C1 2 min, C2 5 min, C3 11 min, C4 never acked.
    # C5 is cancelled; C6 was triggered at 10:00 on 11-13, before the window's 12:00 start.
    # mean (2 + 5 + 11) / 3 = 6 min; p50 = x[1] = 5 min; p90: h = 2 * 0.9 = 1.8 -> 5 + 0.8 * (11 - 5) = 9.8 min.
    check(mtta["service:checkout"], 6 * MIN, 3, p50=5 * MIN, p90=9.8 * MIN, unacknowledged=1, triggered=4)
    # billing: B1 3 min, B2 10 min. mean 6.5 min; p50: h = 0.5 -> 3 + 0.5 * 7 = 6.5 min; p90: 3 + 0.9 * 7 = 9.3 min.
    check(mtta["service:billing"], 6.5 * MIN, 2, p50=6.5 * MIN, p90=9.3 * MIN, unacknowledged=0)
    # search: S1 20 min; S2 (11-13 13:00, inside the window's first, partial day) was never acknowledged.
    check(mtta["service:search"], 20 * MIN, 1, p50=20 * MIN, p90=20 * MIN, unacknowledged=1, triggered=2)
    # docs: nothing to measure.
    check(mtta["service:docs"], None, 0, p50=None, p90=None, unacknowledged=0, triggered=0)


def test_mtta_per_team_severity_and_globally(world: dict[str, Any]) -> None:
    mtta = figures("mtta", "7d")
    # payments = checkout + billing: 2, 3, 5, 10, 11 min. mean 31 / 5 = 6.2 min; p50 = x[2] = 5 min;
    # p90: h = 4 * 0.9 = 3.6 -> 10 + 0.6 * (11 - 10) = 10.6 min. Unacknowledged: C4.
    check(mtta["team:payments"], 6.2 * MIN, 5, p50=5 * MIN, p90=10.6 * MIN, unacknowledged=1, triggered=6)
    check(mtta["team:platform"], 20 * MIN, 1, unacknowledged=1)
    # SEV-1: C1 2 min, B1 3 min (C5 cancelled). mean 2.5 min; p90: 2 + 0.9 * 1 = 2.9 min.
    check(mtta["severity:SEV-1"], 2.5 * MIN, 2, p50=2.5 * MIN, p90=2.9 * MIN, unacknowledged=0)
    # SEV-2: C2 5 min, B2 10 min (C6 before the window). mean 7.5; p90: 5 + 0.9 * 5 = 9.5 min.
    check(mtta["severity:SEV-2"], 7.5 * MIN, 2, p50=7.5 * MIN, p90=9.5 * MIN)
    # SEV-3: C3 11 min, S1 20 min, C4 unacknowledged. mean 15.5 min.
    check(mtta["severity:SEV-3"], 15.5 * MIN, 2, unacknowledged=1)
    # SEV-4: S2 only, never acknowledged.
    check(mtta["severity:SEV-4"], None, 0, unacknowledged=1, triggered=1)
    # global: 2, 3, 5, 10, 11, 20 min. sum 51 -> mean 8.5 min; p50: h = 2.5 -> 5 + 0.5 * 5 = 7.5 min;
    # p90: h = 4.5 -> 11 + 0.5 * 9 = 15.5 min. Unacknowledged C4 and S2; triggered 8 (not C5, not C6).
    check(mtta["global"], 8.5 * MIN, 6, p50=7.5 * MIN, p90=15.5 * MIN, unacknowledged=2, triggered=8)


def test_mtta_30d_counts_the_incident_that_straddled_the_7d_start(world: dict[str, Any]) -> None:
    mtta = figures("mtta", "30d")
    # checkout in 30d: 2, 5, 11, 30 (C6) min. mean 48 / 4 = 12 min; p50: h = 1.5 -> 5 + 0.5 * 6 = 8 min;
    # p90: h = 2.7 -> 11 + 0.7 * 19 = 24.3 min.
    check(mtta["service:checkout"], 12 * MIN, 4, p50=8 * MIN, p90=24.3 * MIN, unacknowledged=1)
    # search adds S3 (4 min): 4 and 20 min -> mean 12 min.
    check(mtta["service:search"], 12 * MIN, 2, p50=12 * MIN, unacknowledged=1)


# --- MTTR --------------------------------------------------------------------------------


def test_mttr_counts_incidents_resolved_in_the_window_even_if_triggered_before(world: dict[str, Any]) -> None:
    mttr = figures("mttr", "7d")
    # checkout, resolved in 7d: C1 1 h, C3 2 h, C2 3 h, and C6 (triggered before the window,
    # resolved 11-13 16:00 inside it) 6 h. mean 12 / 4 = 3 h; p50: h = 1.5 -> 2 + 0.5 * 1 = 2.5 h;
    # p90: h = 2.7 -> 3 + 0.7 * 3 = 5.1 h.
    check(mttr["service:checkout"], 3 * HOUR, 4, p50=2.5 * HOUR, p90=5.1 * HOUR)
    # billing: B1 1.5 h (B2 is open).
    check(mttr["service:billing"], 1.5 * HOUR, 1, p50=1.5 * HOUR, p90=1.5 * HOUR)
    # search: S2 10 min, S1 45 min -> mean 27.5 min; p50 27.5 min; p90: 10 + 0.9 * 35 = 41.5 min.
    check(mttr["service:search"], 27.5 * MIN, 2, p50=27.5 * MIN, p90=41.5 * MIN)
    # payments: 1, 1.5, 2, 3, 6 h. mean 13.5 / 5 = 2.7 h; p50 2 h; p90: h = 3.6 -> 3 + 0.6 * 3 = 4.8 h.
    check(mttr["team:payments"], 2.7 * HOUR, 5, p50=2 * HOUR, p90=4.8 * HOUR)
    # SEV-2: C2 3 h, C6 6 h. mean 4.5 h; p90: 3 + 0.9 * 3 = 5.7 h.
    check(mttr["severity:SEV-2"], 4.5 * HOUR, 2, p50=4.5 * HOUR, p90=5.7 * HOUR)
    # global: 600, 2700, 3600, 5400, 7200, 10800, 21600 s. sum 51 900 -> mean 7414.2857 s;
    # p50 = x[3] = 5400 s; p90: h = 5.4 -> 10 800 + 0.4 * 10 800 = 15 120 s.
    check(mttr["global"], 51900 / 7, 7, p50=5400, p90=15120)
    check(mttr["service:docs"], None, 0, p50=None, p90=None)


# --- MTBF --------------------------------------------------------------------------------


def test_mtbf_counts_only_the_overlap_of_downtime_and_merges_overlaps(world: dict[str, Any]) -> None:
    mtbf = figures("mtbf", "7d")
    # checkout: failures triggered in 7d: C1, C2 (C6 before the window, C5 cancelled) = 2.
    # downtime: C6's overlap 11-13 12:00-16:00 = 4 h, C2 3 h, C1 1 h = 8 h = 28 800 s.
    # (604 800 - 28 800) / 2 = 288 000 s.
    check(mtbf["service:checkout"], 288000, 2, failures=2, downtime_seconds=8 * HOUR, no_failures=False)
    # billing: B1 1.5 h, B2 open 10:00 -> NOW = 2 h; 3.5 h = 12 600 s. (604 800 - 12 600) / 2 = 296 100 s.
    check(mtbf["service:billing"], 296100, 2, failures=2, downtime_seconds=3.5 * HOUR)
    # payments: C1 [12:00, 13:00] and B1 [12:30, 14:00] on 11-18 merge into 2 h (not 2.5 h):
    # 4 + 3 + 2 + 2 = 11 h = 39 600 s over 4 failures: (604 800 - 39 600) / 4 = 141 300 s.
    check(mtbf["team:payments"], 141300, 4, failures=4, downtime_seconds=11 * HOUR)
    check(mtbf["global"], 141300, 4, failures=4, downtime_seconds=11 * HOUR)
    # SEV-1: C1 + B1 merged 2 h, 2 failures: (604 800 - 7200) / 2 = 298 800 s.
    check(mtbf["severity:SEV-1"], 298800, 2, downtime_seconds=2 * HOUR)
    # SEV-2: C6 overlap 4 h + C2 3 h + B2 2 h = 9 h, failures C2 and B2: (604 800 - 32 400) / 2 = 286 200 s.
    check(mtbf["severity:SEV-2"], 286200, 2, downtime_seconds=9 * HOUR)
    # Only failure severities have an MTBF scope.
    assert "severity:SEV-3" not in mtbf and "severity:SEV-4" not in mtbf


def test_mtbf_without_failure_is_none_shown_as_more_than_the_window(world: dict[str, Any]) -> None:
    week = figures("mtbf", "7d")
    # search had incidents in the week, but no failure (S3 is 20 days old); docs had none at all.
    for scope in ("service:search", "service:docs", "team:platform"):
        check(week[scope], None, 0, no_failures=True, display="> 7 days", failures=0)
    month = figures("mtbf", "30d")
    # search in 30d: S3, 2 h down: (2 592 000 - 7200) / 1 = 2 584 800 s.
    check(month["service:search"], 2584800, 1, downtime_seconds=2 * HOUR, no_failures=False)
    assert "display" not in month["service:search"].details
    check(month["service:docs"], None, 0, display="> 30 days")
    # checkout in 30d: C1, C2, C6 = 3 failures; 1 + 3 + 6 = 10 h down: (2 592 000 - 36 000) / 3 = 852 000 s.
    check(month["service:checkout"], 852000, 3, downtime_seconds=10 * HOUR)
    # global 30d: C1, C2, C6, B1, B2, S3 = 6 failures; 6 + 3 + 2 (C1 and B1 merged) + 2 + 2 = 15 h:
    # (2 592 000 - 54 000) / 6 = 423 000 s.
    check(month["global"], 423000, 6, downtime_seconds=15 * HOUR)


def test_cancelled_incidents_are_excluded_everywhere(world: dict[str, Any]) -> None:
    # C5 (checkout SEV-1, acked after 1 min) would change checkout's MTTA and SEV-1's MTBF if counted.
    mtta, mtbf = figures("mtta", "7d"), figures("mtbf", "7d")
    assert mtta["service:checkout"].details["triggered"] == 4
    assert mtta["severity:SEV-1"].sample_size == 2
    assert mtbf["severity:SEV-1"].details["failures"] == 2
    # Cancelling B2 (open) removes it from MTTA, its failure and its 2 h of downtime.
    services.incident_cancel(incident=world["B2"], reason="flapping probe")
    mtta, mtbf = figures("mtta", "7d"), figures("mtbf", "7d")
    check(mtta["service:billing"], 3 * MIN, 1)
    check(mtbf["service:billing"], WEEK - 1.5 * HOUR, 1, downtime_seconds=1.5 * HOUR)


def test_percentiles_match_postgresql_percentile_cont(world: dict[str, Any]) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("percentile_cont is PostgreSQL's")
    mtta, mttr = figures("mtta", "90d"), figures("mttr", "90d")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d), percentile_cont(0.9) WITHIN GROUP (ORDER BY d)"
            " FROM (SELECT EXTRACT(EPOCH FROM acknowledged_at - triggered_at) AS d FROM incidents_incident"
            " WHERE status <> 'cancelled' AND acknowledged_at IS NOT NULL AND triggered_at >= %s) t",
            [NOW - timedelta(days=90)],
        )
        p50, p90 = cursor.fetchone()
        cursor.execute(
            "SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM resolved_at - triggered_at))"
            " FROM incidents_incident WHERE status <> 'cancelled' AND resolved_at >= %s",
            [NOW - timedelta(days=90)],
        )
        (resolve_p90,) = cursor.fetchone()
    assert mtta["global"].details["p50"] == pytest.approx(p50)
    assert mtta["global"].details["p90"] == pytest.approx(p90)
    assert mttr["global"].details["p90"] == pytest.approx(resolve_p90)


# --- Rollups: incremental refresh ------------------------------------------------------------


def all_figures(now: datetime) -> dict[tuple[str, str, str], tuple[float | None, int, dict[str, Any]]]:
    result = {}
    for key, compute in (
        ("mtta", metrics.compute_mtta),
        ("mttr", metrics.compute_mttr),
        ("mtbf", metrics.compute_mtbf),
    ):
        for window in ("7d", "30d", "90d"):
            for value in compute(window=window, now=now):
                result[key, window, value.scope] = (value.value, value.sample_size, value.details)
    return result


def assert_same(left: dict[Any, Any], right: dict[Any, Any]) -> None:
    assert left.keys() == right.keys()
    for key, (value, n, details) in left.items():
        other_value, other_n, other_details = right[key]
        assert n == other_n, key
        assert value == (None if other_value is None else pytest.approx(other_value)), key
        assert details.keys() == other_details.keys(), key
        for name, figure in details.items():
            expected = other_details[name]
            assert figure == (
                expected if expected is None or isinstance(expected, bool | str) else pytest.approx(expected)
            ), (key, name)


def test_refresh_recomputes_only_the_days_of_changed_incidents(
    world: dict[str, Any], clock: time_machine.Traveller
) -> None:
    first = refresh_rollups()
    assert first.full and first.rows > 0
    # A cycle later (past the change margin) nothing has changed: the fixture's days are
    # recomputed once more because they were written within the margin, then never again.
    clock.move_to(NOW + timedelta(hours=1))
    refresh_rollups()
    clock.move_to(NOW + timedelta(hours=2))
    assert refresh_rollups().days == frozenset()

    untouched = {
        pk
        for pk, day in IncidentDayRollup.objects.values_list("pk", "trigger_day")
        if day not in {at(11, d).date() for d in (15, 17, 18, 19, 20)}
    }
    now = NOW + timedelta(hours=2)
    checkout = world["services"]["checkout"]
    make(checkout, "SEV-1", NOW + timedelta(hours=1), ack=1 * MIN, resolve=30 * MIN)  # new, 11-20
    services.incident_resolve(incident=world["C4"], at=NOW + timedelta(minutes=90))  # 11-20
    services.incident_reopen(incident=world["C1"], reason="errors came back")  # 11-18: stale resolve removed
    services.incident_reopen(incident=world["B1"], reason="again")  # 11-18: resolve moves 11-18 -> 11-20
    services.incident_resolve(incident=world["B1"], at=NOW + timedelta(minutes=105))
    services.incident_reopen(incident=world["S1"], reason="wrong fix")  # 11-15: reopened then cancelled
    services.incident_cancel(incident=world["S1"], reason="was a probe")
    services.incident_update(incident=world["C3"], data={"severity": "SEV-2"})  # 11-19: new severity
    services.incident_reopen(incident=world["C2"], reason="not fixed")  # 11-17: its only change, and its
    services.incident_resolve(incident=world["C2"], at=NOW + timedelta(minutes=100))  # resolve day is now 11-20

    result = refresh_rollups()
    assert not result.full
    assert result.days == {at(11, d).date() for d in (15, 17, 18, 19, 20)}
    # Rows of every other day were left alone (same primary keys), and the touched days only were written.
    assert untouched <= set(IncidentDayRollup.objects.values_list("pk", flat=True))
    assert result.rows == IncidentDayRollup.objects.filter(trigger_day__in=result.days).count()
    state = IncidentRollupState.objects.get()
    assert (state.last_days, state.last_full) == (5, False)

    incremental = all_figures(now)
    # The same figures as rollups rebuilt from scratch.
    assert metrics.rebuild_rollups().full
    assert_same(incremental, all_figures(now))
    # Spot checks in the 7d window now [11-13 14:00, 11-20 14:00]: C1 reopened leaves MTTR; B1's
    # resolution moved from 11-18 to 11-20 13:45, 49.25 h after its trigger (11-18 12:30).
    mttr = {scope: v for (key, window, scope), v in incremental.items() if key == "mttr" and window == "7d"}
    assert mttr["service:billing"][:2] == (pytest.approx(49.25 * HOUR), 1)
    # checkout: C3 2 h, C6 6 h, C4 5.5 h (08:00 -> 13:30), the new one 0.5 h, and C2 resolved again
    # 11-20 13:40, 73 h 40 min after its trigger: (2 + 6 + 5.5 + 0.5 + 73 2/3) / 5 h.
    assert mttr["service:checkout"][:2] == (pytest.approx((14 + 73 + 2 / 3) * HOUR / 5), 5)


def test_a_deleted_incident_leaves_the_rollups_at_the_next_refresh(
    world: dict[str, Any], clock: time_machine.Traveller
) -> None:
    refresh_rollups()
    clock.move_to(NOW + timedelta(hours=1))
    refresh_rollups()
    with evidence_deletion("test: an incident removed by retention"):
        world["S3"].delete()
    result = refresh_rollups()
    assert result.days == {at(10, 31).date()}
    assert figures("mtbf", "30d", NOW)["service:search"].value is None


def test_figures_match_a_brute_force_computation_on_random_incidents() -> None:
    """Random incidents (edges, overlaps, open, cancelled) against a plain-Python reading of the definitions."""
    rng = random.Random(20261120)  # noqa: S311 - test data, deterministic on purpose
    teams = [TeamFactory.create(slug=f"t{n}") for n in range(2)]
    pool = [ServiceFactory.create(slug=f"s{n}", owner_team=teams[n % 2]) for n in range(3)]
    for _ in range(80):
        # Microseconds too: SQLite stores them as text that the SQL must read exactly.
        triggered = NOW - timedelta(seconds=rng.randrange(0, 40 * 24 * 3600), microseconds=rng.randrange(10**6))
        ack = rng.choice([None, rng.randrange(1, 3600) + rng.random()])
        resolve = rng.choice([None, rng.randrange(3600, 3 * 24 * 3600)])
        if resolve is not None and triggered + timedelta(seconds=resolve) > NOW:
            resolve = None
        make(
            rng.choice(pool),
            rng.choice(["SEV-1", "SEV-2", "SEV-3"]),
            triggered,
            ack=ack,
            resolve=resolve,
            cancel=rng.random() < 0.1 and resolve is None,
        )
    refresh_rollups()
    rows = list(Incident.objects.exclude(status="cancelled").select_related("service__owner_team"))

    def scopes(incident: Incident) -> list[str]:
        return [
            f"service:{incident.service.slug}",
            f"team:{incident.service.owner_team.slug}",
            f"severity:{incident.severity}",
            "global",
        ]

    def percentile(values: list[float], p: float) -> float:
        ordered = sorted(values)
        h = (len(ordered) - 1) * p
        low = int(h)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (h - low) * (ordered[high] - ordered[low])

    for window, length in (("7d", timedelta(days=7)), ("30d", timedelta(days=30))):
        start = NOW - length
        acks: dict[str, list[float]] = {}
        resolves: dict[str, list[float]] = {}
        failures: dict[str, int] = {}
        outages: dict[str, list[tuple[datetime, datetime]]] = {}
        for incident in rows:
            for scope in scopes(incident):
                if start <= incident.triggered_at <= NOW and incident.acknowledged_at:
                    acks.setdefault(scope, []).append(
                        (incident.acknowledged_at - incident.triggered_at).total_seconds()
                    )
                if incident.resolved_at and start <= incident.resolved_at <= NOW:
                    resolves.setdefault(scope, []).append(
                        (incident.resolved_at - incident.triggered_at).total_seconds()
                    )
                if incident.severity in ("SEV-1", "SEV-2"):
                    if start <= incident.triggered_at <= NOW:
                        failures[scope] = failures.get(scope, 0) + 1
                    b, e = max(incident.triggered_at, start), min(incident.resolved_at or NOW, NOW)
                    if b < e:
                        outages.setdefault(scope, []).append((b, e))
        mtta, mttr, mtbf = figures("mtta", window), figures("mttr", window), figures("mtbf", window)
        for scope, values in acks.items():
            check(
                mtta[scope],
                sum(values) / len(values),
                len(values),
                p50=percentile(values, 0.5),
                p90=percentile(values, 0.9),
            )
        for scope, values in resolves.items():
            check(
                mttr[scope],
                sum(values) / len(values),
                len(values),
                p50=percentile(values, 0.5),
                p90=percentile(values, 0.9),
            )
        for scope, value in mtbf.items():
            down = 0.0
            reach: datetime | None = None
            for b, e in sorted(outages.get(scope, [])):
                if reach is None or b > reach:
                    down += (e - b).total_seconds()
                    reach = e
                elif e > reach:
                    down += (e - reach).total_seconds()
                    reach = e
            count = failures.get(scope, 0)
            check(value, (length.total_seconds() - down) / count if count else None, count, downtime_seconds=down)


def test_windows_split_into_whole_utc_days_and_two_partial_edges() -> None:
    window = metrics.Window.ending("7d", NOW)
    assert (window.start, window.end, window.seconds) == (at(11, 13), NOW, WEEK)
    # 11-13 12:00 .. 11-14 00:00 and 11-20 00:00 .. 12:00 come from incident rows, 11-14 .. 11-19 from rollups.
    assert window.full_days == (at(11, 14).date(), at(11, 20).date())
    sql, params = window.edge_condition("t")
    assert sql == "((t >= %s AND t < %s) OR (t >= %s AND t <= %s))" and len(params) == 4
    # At midnight the window is whole days only; the tail edge is the instant `now` itself.
    midnight = metrics.Window.ending("30d", at(11, 20, 0))
    assert midnight.full_days == (at(10, 21, 0).date(), at(11, 20, 0).date())
    assert midnight.display() == "> 30 days"


# --- Queries, command, selectors ----------------------------------------------------------------


def test_each_computation_costs_a_fixed_number_of_queries(
    world: dict[str, Any], django_assert_num_queries: Any
) -> None:
    refresh_rollups()
    for compute in (metrics.compute_mtta, metrics.compute_mttr, metrics.compute_mtbf):
        # services and teams, rollup sums, edge-day sums, percentiles or downtime.
        with django_assert_num_queries(4):
            compute(window="30d", now=NOW)


def test_compute_metrics_command_reports_progress_and_stores_snapshots(world: dict[str, Any]) -> None:
    out = io.StringIO()
    call_command("compute_metrics", "mtta", "mttr", "mtbf", stdout=out)
    lines = out.getvalue().splitlines()
    # 11 scopes (global, 4 severities, 2 teams, 4 services) x 3 windows; MTBF has 2 failure severities.
    assert lines[0].startswith("mtta: 33 snapshots in ")
    assert lines[1].startswith("mttr: 33 snapshots in ")
    assert lines[2].startswith("mtbf: 27 snapshots in ")
    assert lines[3].startswith("Done: 93 snapshots in ")
    stored = MetricSnapshot.objects.get(metric="mtta", scope="service:checkout", window="7d")
    assert (stored.value, stored.sample_size) == (pytest.approx(6 * MIN), 3)
    assert stored.details["p90"] == pytest.approx(9.8 * MIN)
    assert stored.computed_at == NOW


def test_the_metrics_are_registered_with_their_policy_targets() -> None:
    from opsgov.registry import metrics as registry

    mtta, mttr, mtbf = registry.get("mtta"), registry.get("mttr"), registry.get("mtbf")
    assert (mtta.unit, mtta.comparison, mtta.target()) == ("seconds", "<", 15 * MIN)
    assert (mttr.comparison, mttr.target()) == ("<", 4 * HOUR)
    assert (mtbf.comparison, mtbf.target()) == (">", 720 * HOUR)
    assert mtta.prepare is mttr.prepare is mtbf.prepare is not None


def test_service_page_figures_read_the_newest_snapshots_in_one_query(
    world: dict[str, Any], clock: time_machine.Traveller, django_assert_num_queries: Any
) -> None:
    core_services.compute_metrics(keys=["mtta", "mttr", "mtbf"])
    clock.move_to(NOW + timedelta(minutes=1))
    core_services.compute_metrics(keys=["mtta", "mttr", "mtbf"])
    checkout = world["services"]["checkout"]
    with django_assert_num_queries(1):
        mtta, mttr, mtbf = service_incident_metrics(checkout, window="7d")
    assert mtta.computed_at == NOW + timedelta(minutes=1)
    assert (mtta.key, mtta.value, mtta.sample_size) == ("mtta", pytest.approx(6 * MIN), 3)
    assert (mtta.target, mtta.meets_target, mtta.display) == (15 * MIN, True, "6 min")
    assert (mttr.key, mttr.meets_target, mttr.display) == ("mttr", True, "3 h")
    # 288 000 s = 80 h < 720 h target.
    assert (mtbf.key, mtbf.meets_target, mtbf.display) == ("mtbf", False, "3 d 8 h")
    quiet = service_incident_metrics(world["services"]["docs"], window="30d")
    assert [figure.display for figure in quiet] == ["—", "—", "> 30 days"]
    assert quiet[2].meets_target is True
    never = service_incident_metrics(ServiceFactory.create(slug="brand-new"), window="30d")
    assert [(figure.snapshot, figure.meets_target) for figure in never] == [(None, None)] * 3
    platform = team_incident_metrics(world["services"]["search"].owner_team, window="7d")
    assert platform[0].value == pytest.approx(20 * MIN)
    with pytest.raises(ValueError, match="unknown window"):
        service_incident_metrics(checkout, window="1y")


def test_an_overview_reads_every_service_and_window_in_one_query(
    world: dict[str, Any], clock: time_machine.Traveller, django_assert_num_queries: Any
) -> None:
    core_services.compute_metrics(keys=["mtta", "mttr", "mtbf"])
    clock.move_to(NOW + timedelta(minutes=1))
    core_services.compute_metrics(keys=["mtta", "mttr", "mtbf"])
    scopes = [f"service:{slug}" for slug in world["services"]]
    with django_assert_num_queries(1):
        rows = latest_incident_snapshots(scopes)
    assert len(rows) == 3 * 4 * 3  # metrics x services x windows, the newest of two cycles each
    assert {row.computed_at for row in rows.values()} == {NOW + timedelta(minutes=1)}
    assert rows["mtbf", "service:search", "7d"].details["display"] == "> 7 days"
    assert latest_incident_snapshots([]) == {}


def test_durations_read_in_their_two_largest_units() -> None:
    assert [format_duration(s) for s in (42, 360, 390, 7200, 7500, 90000)] == [
        "42 s",
        "6 min",
        "6 min 30 s",
        "2 h",
        "2 h 5 min",
        "1 d 1 h",
    ]


def test_a_window_without_any_incident_gives_no_data_rather_than_an_error() -> None:
    # PostgreSQL answers the grand-total grouping set of an empty window with one row: count 0, no percentiles.
    ServiceFactory.create(slug="quiet")
    with time_machine.travel(NOW, tick=False):
        stored = core_services.compute_metrics(now=NOW, keys=["mtta", "mttr"])
    figures = {(row.metric, row.scope, row.window): row for row in stored}
    quiet = figures["mtta", "service:quiet", "7d"]
    assert (quiet.value, quiet.sample_size, quiet.details["p50"], quiet.details["p90"]) == (None, 0, None, None)
    assert figures["mttr", "global", "90d"].value is None
