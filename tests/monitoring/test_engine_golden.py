"""Golden tests of the SLO engine: budgets and alert times computed by hand (the arithmetic is in the comments).

Conventions of monitoring.slos.engine used below: every window ends at the start of
the current minute ("end") and holds the buckets whose *start* lies in
[end - length, end); budget_ratio = (100 - objective) / 100; burn rate =
(bad / total) / budget_ratio; remaining = 1 - bad / (budget_ratio x total).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import time_machine

from incidents.models import Incident, IncidentStatus
from monitoring.models import SLOAlertState, SLOStatus, WindowKind
from monitoring.slos import engine
from monitoring.slos.engine import Figures
from monitoring.slos.sli import SLIReading, record_sli
from tests.incidents.test_ingest_support import process_pending

from .support import make_slo, series, use_policy

pytestmark = pytest.mark.django_db

# The outage starts at T; history before it is clean.
T = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def evaluate_at(at: datetime) -> engine.CycleResult:
    with time_machine.travel(at, tick=False):
        return engine.evaluate_slos(now=at)


def status(slo_pk: int) -> SLOStatus:
    return SLOStatus.objects.get(slo_id=slo_pk)


# --- Page-fast: 99.9 %, 1000 events a minute, a 60-minute outage of 2 % errors from T -------------------
#
# Budget ratio 0.001. An outage minute has 20 bad events of 1000: burn rate 0.02 / 0.001 = 20.
#
# Fires (page-fast: 14.4x over 1h AND 5m). Evaluated at T + m (m <= 60), the 1h window
# [T + m - 60, T + m) holds m outage minutes: bad = 20m of 60,000 events,
# burn = (20m / 60000) / 0.001 = m / 3. The 5m window holds 5 outage minutes (burn 20) once m >= 5.
#   m = 43: 43 / 3 = 14.33 < 14.4  -> not yet
#   m = 44: 44 / 3 = 14.67 >= 14.4 -> FIRES at T + 44 min (1h = 880 bad / 60,000; 5m = 100 / 5,000 -> 20)
#
# Clears: the outage's last bad minute is T + 59. Evaluated at T + 60 + j, the 5m window
# [T + 55 + j, T + 60 + j) holds 5 - j bad minutes: burn = 20 (5 - j) / 5 = 4 (5 - j).
#   j = 1 (T + 61): 16 >= 14.4 (and 1h: 59 bad minutes -> 59 / 3 = 19.67) -> still firing
#   j = 2 (T + 62): 12 <  14.4                                           -> CLEARS at T + 62 min
#
# Never fires: page-slow (6x over 6h and 30m): the 6h window holds at most 60 outage minutes:
# 1,200 bad of 360,000 -> burn 3.33 < 6. Ticket (1x over 3d and 6h): over 3d at most
# 1,200 bad of ~4.3M -> ~0.28 < 1.


def page_fast_history() -> Any:
    """The SLO and 30 days of clean history up to T: hour buckets until T - 6h, minute buckets after."""
    slo = make_slo()
    history_start = T - timedelta(days=30)
    series(slo, history_start, 30 * 24 - 6, good=60_000, total=60_000, seconds=3600, now=T)
    series(slo, T - timedelta(hours=6), 360, good=1000, total=1000, now=T)
    return slo


def record_minute(slo: Any, minute: int) -> None:
    """Minute T + minute: 980 good of 1000 during the outage (minutes 0..59), 1000 of 1000 after."""
    start = T + minute * MINUTE
    good = 980 if 0 <= minute < 60 else 1000
    record_sli(slo=slo, readings=[SLIReading(start, good, 1000)], now=start + MINUTE)


def test_page_fast_fires_at_the_44th_outage_minute_and_clears_two_minutes_after_it_ends() -> None:
    slo = page_fast_history()
    fired_at: list[int] = []
    cleared_at: list[int] = []
    for minute in range(0, 70):
        record_minute(slo, minute)
        # Evaluated 30 s into minute T + minute + 1: the window ends at T + minute + 1 and holds minute T + minute.
        result = evaluate_at(T + (minute + 1) * MINUTE + timedelta(seconds=30))
        if result.fired:
            fired_at.append(minute + 1)
        if result.cleared:
            cleared_at.append(minute + 1)
    assert fired_at == [44]
    assert cleared_at == [62]
    key = f"slo:{slo.uuid}:page-fast"
    state = SLOAlertState.objects.get(slo=slo, key="page-fast")
    assert (state.firing, state.changed_at) == (False, T + 62 * MINUTE)
    assert not SLOAlertState.objects.exclude(key="page-fast").exists(), "page-slow and ticket never fired"
    assert key.startswith("slo:")


def test_the_burn_rates_and_budget_at_the_firing_minute() -> None:
    slo = page_fast_history()
    for minute in range(44):
        record_minute(slo, minute)
    result = evaluate_at(T + 44 * MINUTE + timedelta(seconds=59))
    assert result.fired == [f"slo:{slo.uuid}:page-fast"]
    row = status(slo.pk)
    rates = row.burn_rates
    assert rates["5m"] == pytest.approx(20.0)  # 100 bad / 5,000 / 0.001
    assert rates["30m"] == pytest.approx(20.0)  # 600 bad / 30,000 / 0.001
    assert rates["1h"] == pytest.approx(44 / 3)  # 880 bad / 60,000 / 0.001 = 14.667
    # 6h = [T - 316 min, T + 44 min): all minute buckets, 360,000 events, 880 bad -> 880 / 360 = 2.444
    assert rates["6h"] == pytest.approx(880 / 360)
    # 1d = [T - 23 h 16 min, T + 44 min): 404 minute buckets (T - 6 h .. T + 43) = 404,000 events, plus the
    # hour buckets that *start* inside: T - 23 h .. T - 7 h = 17 hours = 1,020,000 (the one starting at
    # T - 24 h starts before the window). Total 1,424,000, bad 880 -> 880 / 1,424 = 0.618
    assert rates["1d"] == pytest.approx(880 / 1424)
    assert row.firing == ["page-fast"]
    # Budget, rolling 30 days = [T + 44 min - 30 d, T + 44 min): hour buckets starting T - 719 h .. T - 7 h
    # (713 hours: the one starting at T - 720 h starts 44 minutes before the window) = 42,780,000 events,
    # plus 404 minute buckets = 404,000. Total 43,184,000; bad 880; allowed 0.001 x 43,184,000 = 43,184.
    assert (row.good, row.total) == (43_184_000 - 880, 43_184_000)
    assert row.budget_consumed == pytest.approx(880 / 43_184)  # 0.02038
    assert row.budget_remaining == pytest.approx(1 - 880 / 43_184)  # 0.97962
    assert row.sli_percent == pytest.approx((43_184_000 - 880) / 43_184_000 * 100)
    assert (row.window_start, row.window_end) == (T + 44 * MINUTE - timedelta(days=30), T + 44 * MINUTE)


def test_a_firing_alert_opens_an_incident_and_its_clearing_resolves_it() -> None:
    slo = page_fast_history()
    for minute in range(44):
        record_minute(slo, minute)
    evaluate_at(T + 44 * MINUTE)
    process_pending()
    incident = Incident.objects.get(dedup_key=f"slo:{slo.uuid}")  # one incident per SLO breach
    assert incident.service_id == slo.service_id
    assert incident.status == IncidentStatus.TRIGGERED
    assert incident.triggered_at == T + 44 * MINUTE
    assert incident.severity == "SEV-2", "a page opens the least severe failure severity by default"
    assert incident.title == (
        f"SLO API availability ({slo.service.name}) burns its error budget at 14.7x over 1 hour "
        "and 20.0x over 5 minutes (threshold 14.4x)"
    )

    # The same state on the next cycle publishes nothing: one incident, no extra signal.
    record_minute(slo, 44)
    assert evaluate_at(T + 45 * MINUTE).fired == []

    for minute in range(45, 62):
        record_minute(slo, minute)
    result = evaluate_at(T + 62 * MINUTE)
    assert result.cleared == [f"slo:{slo.uuid}:page-fast"]
    process_pending()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.resolved_at == T + 62 * MINUTE
    assert Incident.objects.count() == 1


def test_an_alert_changes_nothing_when_its_transaction_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    slo = page_fast_history()
    for minute in range(44):
        record_minute(slo, minute)

    def broken(alert: Any) -> int:
        raise RuntimeError("subscriber failed")

    monkeypatch.setattr(engine, "raise_alert", broken)
    with pytest.raises(RuntimeError):
        evaluate_at(T + 44 * MINUTE)
    assert not SLOAlertState.objects.exists()
    assert not SLOStatus.objects.exists(), "the cycle is one transaction"


# --- Budgets -------------------------------------------------------------------------------------------


def test_rolling_window_budget_from_hour_buckets() -> None:
    # 99.9 %: evaluated at 12:00:30 -> window [Oct 21 12:00, Nov 20 12:00) holds exactly the 720 hour buckets
    # recorded from end - 30 d. Each: 60,000 events, 10 bad. Total 43,200,000; bad 7,200;
    # allowed 0.001 x 43,200,000 = 43,200 -> consumed 7,200 / 43,200 = 1/6, remaining 5/6.
    end = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    slo = make_slo()
    series(slo, end - timedelta(days=30), 720, good=59_990, total=60_000, seconds=3600, now=end)
    # One hour before the window, all bad: outside, so it changes nothing.
    series(slo, end - timedelta(days=30, hours=1), 1, good=0, total=60_000, seconds=3600, now=end)
    evaluate_at(end + timedelta(seconds=30))
    row = status(slo.pk)
    assert (row.good, row.total) == (43_200_000 - 7_200, 43_200_000)
    assert row.budget_consumed == pytest.approx(1 / 6)
    assert row.budget_remaining == pytest.approx(5 / 6)
    assert row.sli_percent == pytest.approx(99.98333333)
    assert row.window_start == end - timedelta(days=30)


def test_a_28_day_window_leaves_out_days_29_and_30() -> None:
    # 99 %: one bucket 29 days back (1,000 events, 500 bad) and one an hour back (1,000 events, 5 bad).
    # 28-day window: only the recent one -> 5 bad of 1,000, allowed 10 -> remaining 0.5.
    end = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    slo = make_slo(objective_percent=Decimal("99"), window_days=28)
    series(slo, end - timedelta(days=29), 1, good=500, total=1000, now=end)
    series(slo, end - timedelta(hours=1), 1, good=995, total=1000, now=end)
    evaluate_at(end)
    assert status(slo.pk).budget_remaining == pytest.approx(0.5)


def test_an_overspent_budget_is_negative() -> None:
    # 99 %: 1,000 events, 30 bad; allowed 0.01 x 1,000 = 10 -> consumed 3, remaining 1 - 3 = -2.
    end = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    slo = make_slo(objective_percent=Decimal("99"))
    series(slo, end - timedelta(hours=2), 1, good=970, total=1000, now=end)
    evaluate_at(end)
    row = status(slo.pk)
    assert row.budget_consumed == pytest.approx(3.0)
    assert row.budget_remaining == pytest.approx(-2.0)
    assert row.sli_percent == pytest.approx(97.0)


def test_an_slo_without_data_has_no_figures_and_no_alerts() -> None:
    slo = make_slo()
    result = evaluate_at(datetime(2026, 11, 20, 12, 0, 30, tzinfo=UTC))
    row = status(slo.pk)
    assert (row.good, row.total) == (0, 0)
    assert (row.sli_percent, row.budget_remaining, row.budget_consumed) == (None, None, None)
    assert row.burn_rates == {"5m": None, "30m": None, "1h": None, "6h": None, "1d": None, "3d": None}
    assert row.firing == []
    assert result.fired == []


def test_disabled_slos_are_not_evaluated() -> None:
    slo = make_slo(enabled=False)
    assert evaluate_at(datetime(2026, 11, 20, 12, 0, tzinfo=UTC)).evaluated == 0
    assert not SLOStatus.objects.filter(slo=slo).exists()


@pytest.mark.parametrize(
    ("zone", "expected_start", "total", "remaining"),
    [
        # Month start = Nov 1 00:00 in Berlin (CET, UTC+1) = Oct 31 23:00 UTC: the 23:00 bucket is in.
        # 2,000 events, 10 bad, 99 % -> allowed 20 -> remaining 1 - 10 / 20 = 0.5.
        ("Europe/Berlin", datetime(2026, 10, 31, 23, 0, tzinfo=UTC), 2000, 0.5),
        # In UTC the month starts at Nov 1 00:00 UTC: only the Nov 10 bucket (no bad event) -> remaining 1.
        ("UTC", datetime(2026, 11, 1, 0, 0, tzinfo=UTC), 1000, 1.0),
    ],
)
def test_a_calendar_month_window_starts_at_midnight_of_the_first_in_the_policys_time_zone(
    settings: Any, tmp_path: Path, zone: str, expected_start: datetime, total: int, remaining: float
) -> None:
    use_policy(settings, tmp_path, f'[business_calendar]\ntime_zone = "{zone}"\n')
    now = datetime(2026, 11, 20, 11, 0, 30, tzinfo=UTC)
    slo = make_slo(objective_percent=Decimal("99"), window_kind=WindowKind.CALENDAR_MONTH)
    series(slo, datetime(2026, 10, 31, 22, 0, tzinfo=UTC), 1, good=0, total=1000, seconds=3600, now=now)  # October
    series(slo, datetime(2026, 10, 31, 23, 0, tzinfo=UTC), 1, good=990, total=1000, seconds=3600, now=now)
    series(slo, datetime(2026, 11, 10, 5, 0, tzinfo=UTC), 1, good=1000, total=1000, seconds=3600, now=now)
    evaluate_at(now)
    row = status(slo.pk)
    assert row.window_start == expected_start
    assert row.total == total
    assert row.budget_remaining == pytest.approx(remaining)


# --- Exactness and policy -----------------------------------------------------------------------------


def test_a_burn_rate_of_exactly_the_threshold_fires() -> None:
    # 72 bad of 5,000 at 99.9 %: (72 / 5000) / 0.001 = 14.4 exactly; in floats it is 14.399999999999999.
    assert (72 / 5000) / 0.001 < 14.4
    figures = Figures(good=5000 - 72, total=5000, ratio=Fraction(1, 1000))
    assert figures.burns_at_least(14.4)
    assert not Figures(good=5000 - 71, total=5000, ratio=Fraction(1, 1000)).burns_at_least(14.4)
    assert not Figures(good=0, total=0, ratio=Fraction(1, 1000)).burns_at_least(0.0), "no traffic never fires"


def test_policy_thresholds_and_severities_decide(settings: Any, tmp_path: Path) -> None:
    # One alert only: 2x over 2 hours and 10 minutes, opening SEV-1 incidents. 99 %, so ratio 0.01.
    use_policy(
        settings,
        tmp_path,
        "[monitoring.burn_rate_alerts.fast]\n"
        'burn_rate = 2\nlong_window = "2 hours"\nshort_window = "10 minutes"\nseverity = "SEV-1"\n',
    )
    end = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    slo = make_slo(objective_percent=Decimal("99"))
    # 2 hours of 100 events a minute; the first 96 minutes clean, the last 24 with 5 bad each.
    # 2h: 120 bad of 12,000 -> 0.01 / 0.01 = 1.0 < 2 -> not firing, although 10m burns at 5.
    series(slo, end - timedelta(hours=2), 96, good=100, total=100, now=end)
    series(slo, end - timedelta(minutes=24), 24, good=95, total=100, now=end)
    assert evaluate_at(end).fired == []
    row = status(slo.pk)
    assert row.burn_rates["2h"] == pytest.approx(1.0)
    assert row.burn_rates["10m"] == pytest.approx(5.0)
    # Two more bad minutes at 60 bad each: 2h window [10:02, 12:02): 94 clean + 24 x 5 + 2 x 60 = 240 bad
    # of 12,000 -> 2.0 -> fires; 10m: 8 x 5 + 2 x 60 = 160 of 1,000 -> 16.
    series(slo, end, 2, good=40, total=100, now=end + 2 * MINUTE)
    assert evaluate_at(end + 2 * MINUTE).fired == [f"slo:{slo.uuid}:fast"]
    process_pending()
    assert Incident.objects.get().severity == "SEV-1"
