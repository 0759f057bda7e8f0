"""The SLA clock (opsgov.sla): golden cases worked out by hand, then properties.

Dates used below (all checked with date.weekday()):
  2026-01-09 Fri, 2026-01-10 Sat, 2026-01-12 Mon, 2026-01-13 Tue, 2026-01-19 Mon
  2026-03-27 Fri, 2026-03-29 Sun (Europe/Berlin: 02:00 CET -> 03:00 CEST), 2026-03-30 Mon
  2026-10-23 Fri, 2026-10-25 Sun (Europe/Berlin: 03:00 CEST -> 02:00 CET), 2026-10-26 Mon
  2026-07-02 Thu, 2026-07-03 Fri (US: Independence Day observed; July 4 is a Saturday), 2026-07-06 Mon
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsgov.policy import BusinessCalendarPolicy, Policy, clear_policy_cache, span
from opsgov.sla import (
    MAX_SEARCH_DAYS,
    AlwaysOnCalendar,
    BusinessCalendar,
    NoWorkingTimeError,
    due_at,
    elapsed_against,
    policy_calendar,
    target_length,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ZUTC = ZoneInfo("UTC")

H = timedelta(hours=1)


def nine_to_five(zone: ZoneInfo = ZUTC, holiday_dates: frozenset[date] = frozenset()) -> BusinessCalendar:
    return BusinessCalendar(zone, {day: [(time(9), time(17))] for day in range(5)}, holiday_dates)


def at(zone: tzinfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=zone)


def utc(value: datetime) -> datetime:
    """For comparing and subtracting: Python does wall-clock arithmetic (and ignores `fold`) on
    aware datetimes that share a tzinfo, which is wrong across DST changes."""
    return value.astimezone(UTC)


# --- Business calendar: golden cases ------------------------------------------------


def test_friday_closing_plus_8_business_hours_is_monday_closing() -> None:
    # Fri 17:00 is closing time: nothing counts until Mon 09:00, then 8h -> Mon 17:00.
    calendar = BusinessCalendar.from_policy(BusinessCalendarPolicy())
    assert calendar.add(at(ZUTC, 2026, 1, 9, 17), 8 * H) == at(ZUTC, 2026, 1, 12, 17)


def test_holiday_monday_is_skipped() -> None:
    # Mon 2026-01-12 is an extra holiday: the 8h are Tue 09:00-17:00.
    calendar = BusinessCalendar.from_policy(BusinessCalendarPolicy(extra_holidays=[date(2026, 1, 12)]))
    assert calendar.add(at(ZUTC, 2026, 1, 9, 17), 8 * H) == at(ZUTC, 2026, 1, 13, 17)
    assert not calendar.is_working_time(at(ZUTC, 2026, 1, 12, 10))


def test_one_business_day_from_friday_morning_is_monday_morning() -> None:
    # 1 business day = 8h (policy default): Fri 10:00-17:00 is 7h, Mon 09:00-10:00 the 8th.
    calendar = BusinessCalendar.from_policy(BusinessCalendarPolicy())
    assert due_at(at(ZUTC, 2026, 1, 9, 10), span("1 business day"), calendar=calendar) == at(ZUTC, 2026, 1, 12, 10)


def test_business_day_length_comes_from_the_policy() -> None:
    # business_day_hours = 4: 1 business day from Fri 10:00 is Fri 14:00, 2 are Mon 10:00.
    calendar = BusinessCalendar.from_policy(BusinessCalendarPolicy(business_day_hours=4))
    assert calendar.business_day == 4 * H
    assert due_at(at(ZUTC, 2026, 1, 9, 10), span("1 business day"), calendar=calendar) == at(ZUTC, 2026, 1, 9, 14)
    assert due_at(at(ZUTC, 2026, 1, 9, 10), span("2 business days"), calendar=calendar) == at(ZUTC, 2026, 1, 12, 10)


def test_start_outside_working_time_starts_at_next_opening() -> None:
    # Sat 12:00: the clock starts Mon 09:00; 1h later is Mon 10:00.
    calendar = nine_to_five()
    assert calendar.add(at(ZUTC, 2026, 1, 10, 12), H) == at(ZUTC, 2026, 1, 12, 10)
    # Before opening on a working day: Mon 07:00 + 1h = Mon 10:00.
    assert calendar.add(at(ZUTC, 2026, 1, 12, 7), H) == at(ZUTC, 2026, 1, 12, 10)


def test_result_ends_at_closing_rather_than_next_opening() -> None:
    # Fri 09:00 + 8h ends at Fri 17:00 (not at Mon 09:00, where nothing more is counted).
    calendar = nine_to_five()
    assert calendar.add(at(ZUTC, 2026, 1, 9, 9), 8 * H) == at(ZUTC, 2026, 1, 9, 17)
    # Adding zero is the start itself, even outside working time.
    assert calendar.add(at(ZUTC, 2026, 1, 10, 12), timedelta(0)) == at(ZUTC, 2026, 1, 10, 12)


def test_two_weeks_of_business_days() -> None:
    # 10 business days from Mon 2026-01-12 10:00 = two full weeks -> Mon 2026-01-26 10:00.
    calendar = nine_to_five()
    assert calendar.add(at(ZUTC, 2026, 1, 12, 10), 10 * 8 * H) == at(ZUTC, 2026, 1, 26, 10)


def test_split_periods_lunch_break() -> None:
    # 09:00-12:00 and 13:00-17:00: Mon 11:00 + 2h = 1h before lunch + 1h after -> 14:00.
    calendar = BusinessCalendar(ZUTC, {0: [(time(13), time(17)), (time(9), time(12))]})
    assert calendar.add(at(ZUTC, 2026, 1, 12, 11), 2 * H) == at(ZUTC, 2026, 1, 12, 14)
    assert calendar.elapsed(at(ZUTC, 2026, 1, 12, 0), at(ZUTC, 2026, 1, 13, 0)) == 7 * H
    assert not calendar.is_working_time(at(ZUTC, 2026, 1, 12, 12, 30))


def test_is_working_time_boundaries() -> None:
    # Periods are half-open: [09:00, 17:00).
    calendar = nine_to_five()
    assert not calendar.is_working_time(at(ZUTC, 2026, 1, 12, 8, 59, 59))
    assert calendar.is_working_time(at(ZUTC, 2026, 1, 12, 9))
    assert calendar.is_working_time(datetime(2026, 1, 12, 16, 59, 59, 999999, tzinfo=ZUTC))
    assert not calendar.is_working_time(at(ZUTC, 2026, 1, 12, 17))
    assert not calendar.is_working_time(at(ZUTC, 2026, 1, 10, 12))  # Saturday


def test_results_are_in_the_calendar_zone() -> None:
    # Input in UTC, calendar in Berlin: Mon 2026-01-12 08:00 UTC is 09:00 CET; +1h -> 10:00 CET.
    result = nine_to_five(BERLIN).add(at(UTC, 2026, 1, 12, 8), H)
    assert result.tzinfo is BERLIN
    assert (result.replace(tzinfo=None), result.utcoffset()) == (datetime(2026, 1, 12, 10), H)


# --- Pauses and elapsed time ----------------------------------------------------------


def test_paused_time_does_not_count_on_the_business_calendar() -> None:
    # Mon 09:00-17:00 is 8h; the pause 11:00-13:00 removes 2h -> 6h.
    calendar = nine_to_five()
    mon = (at(ZUTC, 2026, 1, 12, 9), at(ZUTC, 2026, 1, 12, 17))
    assert calendar.elapsed(*mon, [(at(ZUTC, 2026, 1, 12, 11), at(ZUTC, 2026, 1, 12, 13))]) == 6 * H


def test_pause_over_a_weekend_only_removes_working_time() -> None:
    # Fri 09:00 -> Tue 17:00 is 3 working days = 24h. Pause Fri 16:00 -> Mon 10:00 removes
    # Fri 16-17 and Mon 09-10 (the weekend was not counted anyway): 22h.
    calendar = nine_to_five()
    pause = (at(ZUTC, 2026, 1, 9, 16), at(ZUTC, 2026, 1, 12, 10))
    assert calendar.elapsed(at(ZUTC, 2026, 1, 9, 9), at(ZUTC, 2026, 1, 13, 17), [pause]) == 22 * H


def test_always_on_elapsed_merges_overlapping_pauses() -> None:
    # Mon 00:00 -> 12:00 is 12h wall clock. Pauses:
    #   Sun 23:00 - Mon 00:30 (clipped to 00:00-00:30)      0.5h
    #   01:00-03:00, 02:00-04:00, 03:30-05:00 merge to 01:00-05:00  4h (not 2+2+1.5)
    #   04:30-04:45 lies inside the merged pause               0h
    #   11:00 - None (still paused: runs to the end, 12:00)    1h
    #   13:00-14:00 is after the end                            0h
    # 12 - 0.5 - 4 - 1 = 6.5h
    mon = (at(ZUTC, 2026, 1, 12), at(ZUTC, 2026, 1, 12, 12))
    pauses: list[tuple[datetime, datetime | None]] = [
        (at(ZUTC, 2026, 1, 12, 2), at(ZUTC, 2026, 1, 12, 4)),
        (at(ZUTC, 2026, 1, 11, 23), at(ZUTC, 2026, 1, 12, 0, 30)),
        (at(ZUTC, 2026, 1, 12, 1), at(ZUTC, 2026, 1, 12, 3)),
        (at(ZUTC, 2026, 1, 12, 11), None),
        (at(ZUTC, 2026, 1, 12, 3, 30), at(ZUTC, 2026, 1, 12, 5)),
        (at(ZUTC, 2026, 1, 12, 4, 30), at(ZUTC, 2026, 1, 12, 4, 45)),
        (at(ZUTC, 2026, 1, 12, 13), at(ZUTC, 2026, 1, 12, 14)),
    ]
    assert AlwaysOnCalendar().elapsed(*mon, pauses) == timedelta(hours=6, minutes=30)
    # The same pauses on Mon 09:00-17:00 business time only touch 11:00-12:00 (end is 12:00): 3h - 1h.
    assert nine_to_five().elapsed(at(ZUTC, 2026, 1, 12, 9), mon[1], pauses) == 2 * H


def test_elapsed_is_zero_when_end_is_not_after_start() -> None:
    start = at(ZUTC, 2026, 1, 12, 10)
    for calendar in (nine_to_five(), AlwaysOnCalendar()):
        assert calendar.elapsed(start, start) == timedelta(0)
        assert calendar.elapsed(start, start - H) == timedelta(0)
        assert calendar.elapsed(start, start - H, [(start - 2 * H, None)]) == timedelta(0)


def test_pause_ending_before_it_starts_is_an_error() -> None:
    start, end = at(ZUTC, 2026, 1, 12, 9), at(ZUTC, 2026, 1, 12, 17)
    with pytest.raises(ValueError, match="pause 0 ends"):
        nine_to_five().elapsed(start, end, [(end, start)])


def test_naive_datetimes_are_rejected() -> None:
    naive = datetime(2026, 1, 12, 10)
    aware = at(ZUTC, 2026, 1, 12, 10)
    business, always_on = nine_to_five(), AlwaysOnCalendar()
    for calendar in (business, always_on):
        with pytest.raises(ValueError, match="timezone-aware"):
            calendar.add(naive, H)
        with pytest.raises(ValueError, match="timezone-aware"):
            calendar.elapsed(naive, aware)
        with pytest.raises(ValueError, match="timezone-aware"):
            calendar.elapsed(aware, naive)
        with pytest.raises(ValueError, match="timezone-aware"):
            calendar.elapsed(aware, aware + H, [(naive, None)])
        with pytest.raises(ValueError, match="timezone-aware"):
            calendar.is_working_time(naive)
    for target in ("1 hour", "1 business hour", "1 month"):
        with pytest.raises(ValueError, match="timezone-aware"):
            due_at(naive, span(target), calendar=business)


def test_negative_durations_are_rejected() -> None:
    for calendar in (nine_to_five(), AlwaysOnCalendar()):
        with pytest.raises(ValueError, match="negative"):
            calendar.add(at(ZUTC, 2026, 1, 12, 10), -H)


# --- DST ----------------------------------------------------------------------------


def test_business_hours_across_spring_forward() -> None:
    # Berlin: Fri 2026-03-27 16:00 CET (+01:00). 1h on Friday (16-17), the weekend's DST change,
    # then Mon 09:00-10:00 CEST: due Mon 2026-03-30 10:00 local = 08:00 UTC (offset now +02:00).
    calendar = BusinessCalendar.from_policy(BusinessCalendarPolicy(time_zone="Europe/Berlin"))
    start = at(BERLIN, 2026, 3, 27, 16)
    assert start.utcoffset() == H
    due = calendar.add(start, 2 * H)
    assert due.replace(tzinfo=None) == datetime(2026, 3, 30, 10)
    assert due.utcoffset() == 2 * H
    assert due.astimezone(UTC) == at(UTC, 2026, 3, 30, 8)
    # Fri 09:00 CET -> Mon 17:00 CEST is 2 working days, 16h, though 79 real hours apart.
    assert calendar.elapsed(at(BERLIN, 2026, 3, 27, 9), at(BERLIN, 2026, 3, 30, 17)) == 16 * H


def test_business_hours_across_fall_back() -> None:
    # Berlin: Fri 2026-10-23 16:00 CEST (+02:00) + 2h -> Mon 2026-10-26 10:00 CET (+01:00) = 09:00 UTC.
    calendar = BusinessCalendar.from_policy(BusinessCalendarPolicy(time_zone="Europe/Berlin"))
    due = calendar.add(at(BERLIN, 2026, 10, 23, 16), 2 * H)
    assert due.replace(tzinfo=None) == datetime(2026, 10, 26, 10)
    assert due.astimezone(UTC) == at(UTC, 2026, 10, 26, 9)


def test_working_day_on_the_dst_night_counts_real_hours() -> None:
    # Sunday 00:00-06:00 local: on 2026-03-29 one hour (02:00-03:00) never happens -> 5 real hours;
    # on 2026-10-25 one hour (02:00-03:00) happens twice -> 7 real hours.
    calendar = BusinessCalendar(BERLIN, {6: [(time(0), time(6))]})
    spring, autumn = date(2026, 3, 29), date(2026, 10, 25)
    day = timedelta(days=1)

    def whole_day(d: date) -> timedelta:
        return calendar.elapsed(at(BERLIN, d.year, d.month, d.day), at(BERLIN, d.year, d.month, d.day) + day)

    assert whole_day(spring) == 5 * H
    assert whole_day(autumn) == 7 * H
    # 00:00 CET + 3h: 00:00-02:00 CET, then the clock jumps to 03:00 CEST, + 1h -> 04:00 CEST (02:00 UTC).
    assert calendar.add(at(BERLIN, 2026, 3, 29), 3 * H) == at(UTC, 2026, 3, 29, 2)


def test_periods_inside_the_skipped_hour() -> None:
    # 02:15-02:25 does not exist on 2026-03-29 (empty); 02:30-04:00 starts at the jump (03:00 CEST),
    # so it is 1 real hour: 01:00-02:00 UTC. On an ordinary Sunday both are normal.
    calendar = BusinessCalendar(BERLIN, {6: [(time(2, 15), time(2, 25)), (time(2, 30), time(4))]})
    assert calendar.day_intervals(date(2026, 3, 29)) == [(at(UTC, 2026, 3, 29, 1), at(UTC, 2026, 3, 29, 2))]
    assert calendar.add(at(BERLIN, 2026, 3, 29, 0), 30 * timedelta(minutes=1)) == at(UTC, 2026, 3, 29, 1, 30)
    assert calendar.elapsed(at(UTC, 2026, 3, 28), at(UTC, 2026, 3, 30)) == H
    assert calendar.elapsed(at(UTC, 2026, 3, 21), at(UTC, 2026, 3, 23)) == timedelta(hours=1, minutes=40)


def test_always_on_day_across_dst_is_24_real_hours() -> None:
    # Documented choice: "1 day" on the 24x7 clock is exactly 24 real hours, so across the spring
    # change Sat 2026-03-28 12:00 CET (11:00 UTC) + 1 day = Sun 11:00 UTC = 13:00 CEST (not 12:00).
    calendar = nine_to_five(BERLIN)
    due = due_at(at(BERLIN, 2026, 3, 28, 12), span("1 day"), calendar=calendar)
    assert utc(due) - utc(at(BERLIN, 2026, 3, 28, 12)) == 24 * H
    assert due.astimezone(UTC) == at(UTC, 2026, 3, 29, 11)
    assert due.replace(tzinfo=None) == datetime(2026, 3, 29, 13)
    # Fall back: Sat 2026-10-24 12:00 CEST (10:00 UTC) + 1 day = Sun 10:00 UTC = 11:00 CET.
    due = due_at(at(BERLIN, 2026, 10, 24, 12), span("1 day"), calendar=calendar)
    assert due.replace(tzinfo=None) == datetime(2026, 10, 25, 11)
    assert AlwaysOnCalendar().add(at(BERLIN, 2026, 3, 28, 12), 24 * H).astimezone(UTC) == at(UTC, 2026, 3, 29, 11)
    assert AlwaysOnCalendar().elapsed(at(BERLIN, 2026, 3, 28, 12), at(BERLIN, 2026, 3, 29, 12)) == 23 * H


def test_us_public_holiday_from_the_holidays_package() -> None:
    # The package really lists Fri 2026-07-03 as the observed Independence Day.
    assert holidays.country_holidays("US").get(date(2026, 7, 3)) == "Independence Day (observed)"
    calendar = BusinessCalendar.from_policy(BusinessCalendarPolicy(time_zone="America/New_York", holiday_country="US"))
    # Thu 2026-07-02 16:00 EDT + 2h: Thu 16-17, Fri holiday, weekend, Mon 09:00-10:00 EDT (14:00 UTC).
    due = calendar.add(at(NEW_YORK, 2026, 7, 2, 16), 2 * H)
    assert due.replace(tzinfo=None) == datetime(2026, 7, 6, 10)
    assert due.astimezone(UTC) == at(UTC, 2026, 7, 6, 14)
    assert not calendar.is_working_time(at(NEW_YORK, 2026, 7, 3, 10))
    # Holidays of other years are found too (lazily): Mon 2027-01-18 is Martin Luther King Jr. Day.
    assert not calendar.is_working_time(at(NEW_YORK, 2027, 1, 18, 10))
    assert calendar.is_working_time(at(NEW_YORK, 2027, 1, 19, 10))


def test_subdivision_holidays() -> None:
    # Epiphany (Tue 2026-01-06) is a holiday in Bavaria but not in Berlin.
    def calendar(subdivision: str) -> BusinessCalendar:
        policy = BusinessCalendarPolicy(
            time_zone="Europe/Berlin", holiday_country="DE", holiday_subdivision=subdivision
        )
        return BusinessCalendar.from_policy(policy)

    epiphany_10am = at(BERLIN, 2026, 1, 6, 10)
    assert not calendar("BY").is_working_time(epiphany_10am)
    assert calendar("BE").is_working_time(epiphany_10am)


# --- Policy targets -------------------------------------------------------------------


def test_sev4_response_target_from_the_default_policy() -> None:
    # SEV-4 is "1 business day" = 8h of the default Mon-Fri 09:00-17:00 UTC calendar.
    policy = Policy()
    calendar = BusinessCalendar.from_policy(policy.business_calendar)
    target = policy.incidents.severities["SEV-4"].response_target
    assert str(target) == "1 business day"
    assert due_at(at(ZUTC, 2026, 1, 9, 10), target, calendar=calendar) == at(ZUTC, 2026, 1, 12, 10)
    # Review due "5 business days" from Mon 10:00 is next Mon 10:00.
    assert due_at(at(ZUTC, 2026, 1, 12, 10), policy.incidents.review_due, calendar=calendar) == at(
        ZUTC, 2026, 1, 19, 10
    )


def test_wall_clock_targets_ignore_working_hours() -> None:
    # SEV-1 "15 minutes" from Sat 03:00 is Sat 03:15, weekend or not; "1 week" is 7 x 24h.
    calendar = nine_to_five()
    assert due_at(at(ZUTC, 2026, 1, 10, 3), span("15 minutes"), calendar=calendar) == at(ZUTC, 2026, 1, 10, 3, 15)
    assert due_at(at(ZUTC, 2026, 1, 10, 3), span("1 week"), calendar=calendar) == at(ZUTC, 2026, 1, 17, 3)


def test_months_and_years_keep_the_local_time() -> None:
    calendar = nine_to_five(BERLIN)
    # Jan 31 + 1 month is the last day of February, same local time.
    assert due_at(at(BERLIN, 2026, 1, 31, 10), span("1 month"), calendar=calendar) == at(BERLIN, 2026, 2, 28, 10)
    # 3 months from 10:00 CET (winter) is 10:00 CEST (summer): the local time is kept.
    due = due_at(at(BERLIN, 2026, 1, 15, 10), span("3 months"), calendar=calendar)
    assert (due.replace(tzinfo=None), due.utcoffset()) == (datetime(2026, 4, 15, 10), 2 * H)
    # Sat 2025-03-29 02:30 CET + 1 year = 2026-03-29 02:30, which is skipped: due at the jump, 03:00 CEST.
    due = due_at(at(BERLIN, 2025, 3, 29, 2, 30), span("1 year"), calendar=calendar)
    assert due.astimezone(UTC) == at(UTC, 2026, 3, 29, 1)
    assert due.replace(tzinfo=None) == datetime(2026, 3, 29, 3)


def test_elapsed_against_picks_the_clock_of_the_target() -> None:
    # Fri 16:00 -> Mon 10:00 with a pause Mon 09:00-09:30: business clock 1h + 0.5h; 24x7 66h - 0.5h.
    calendar = nine_to_five()
    start, end = at(ZUTC, 2026, 1, 9, 16), at(ZUTC, 2026, 1, 12, 10)
    pauses = [(at(ZUTC, 2026, 1, 12, 9), at(ZUTC, 2026, 1, 12, 9, 30))]
    half = timedelta(minutes=30)
    assert elapsed_against(span("1 business day"), start, end, pauses, calendar=calendar) == H + half
    assert elapsed_against(span("4 business hours"), start, end, pauses, calendar=calendar) == H + half
    assert elapsed_against(span("4 hours"), start, end, pauses, calendar=calendar) == 66 * H - half
    assert elapsed_against(span("3 months"), start, end, calendar=calendar) == 66 * H


def test_target_length() -> None:
    calendar = BusinessCalendar.from_policy(BusinessCalendarPolicy(business_day_hours=7.5))
    assert target_length(span("2 business days"), calendar=calendar) == 15 * H
    assert target_length(span("3 business hours"), calendar=calendar) == 3 * H
    assert target_length(span("2 days"), calendar=calendar) == 48 * H
    with pytest.raises(ValueError, match="no fixed"):
        target_length(span("1 month"), calendar=calendar)


@pytest.fixture
def berlin_policy_file(tmp_path: Path, settings: Any) -> Iterator[None]:
    path = tmp_path / "policy.toml"
    path.write_text('[business_calendar]\ntime_zone = "Europe/Berlin"\n', encoding="utf-8")
    settings.OPSGOV_POLICY = str(path)
    clear_policy_cache()
    yield
    clear_policy_cache()


def test_policy_calendar_is_cached_per_policy(settings: Any) -> None:
    settings.OPSGOV_POLICY = None
    first = policy_calendar()
    assert policy_calendar() is first
    assert first.zone == ZUTC and first.business_day == 8 * H
    clear_policy_cache()  # a new policy object -> a new calendar
    assert policy_calendar() is not first


def test_policy_calendar_follows_the_policy_file(berlin_policy_file: None) -> None:
    assert policy_calendar().zone == BERLIN


# --- Bad calendars --------------------------------------------------------------------


class _EveryDay:
    def __contains__(self, day: object) -> bool:
        return True


def test_calendar_without_working_time_fails_clearly() -> None:
    with pytest.raises(NoWorkingTimeError, match="at least one weekday"):
        BusinessCalendar(ZUTC, {0: [], 6: []})
    everything_is_a_holiday = BusinessCalendar(ZUTC, {0: [(time(9), time(17))]}, _EveryDay())
    with pytest.raises(NoWorkingTimeError, match=f"within {MAX_SEARCH_DAYS} days"):
        everything_is_a_holiday.add(at(ZUTC, 2026, 1, 12, 10), H)
    # Measuring between two instants never searches: zero working time is simply zero.
    assert everything_is_a_holiday.elapsed(at(ZUTC, 2026, 1, 1), at(ZUTC, 2027, 1, 1)) == timedelta(0)


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({7: [(time(9), time(17))]}, "weekday must be"),
        ({0: [(time(17), time(9))]}, "start before it ends"),
        ({0: [(time(9), time(13)), (time(12), time(17))]}, "overlap"),
        ({0: [(time(9, tzinfo=UTC), time(17))]}, "naive"),
    ],
)
def test_invalid_working_hours(hours: dict[int, list[tuple[time, time]]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(ZUTC, hours)


def test_non_positive_business_day() -> None:
    with pytest.raises(ValueError, match="business_day"):
        BusinessCalendar(ZUTC, {0: [(time(9), time(17))]}, business_day=timedelta(0))


# --- Properties -----------------------------------------------------------------------

# Calendars chosen to stress the model: the default one; a Berlin one with a lunch break and a
# Sunday shift across the DST jumps (periods ending and starting inside the skipped or repeated
# hour; 02:30-02:45 does not exist on the spring night); a
# New York one with public holidays and a sparse week (Tue and Thu mornings only).
CALENDARS = {
    "default": BusinessCalendar.from_policy(BusinessCalendarPolicy()),
    "berlin": BusinessCalendar(
        BERLIN,
        {
            **{day: [(time(8), time(12)), (time(13), time(17, 30))] for day in range(5)},
            6: [(time(0), time(2, 15)), (time(2, 30), time(2, 45)), (time(3), time(4)), (time(4), time(23, 45))],
        },
        frozenset({date(2026, 12, 24), date(2026, 12, 25)}),
    ),
    "new_york": BusinessCalendar.from_policy(
        BusinessCalendarPolicy.model_validate(
            {
                "time_zone": "America/New_York",
                "holiday_country": "US",
                "working_hours": {"tuesday": ["07:30-11:45"], "thursday": ["01:00-03:30", "09:00-10:00"]},
                "business_day_hours": 6,
            }
        )
    ),
}
# Days around the 2026 DST changes in both zones (Berlin: Mar 29, Oct 25; New York: Mar 8, Nov 1).
DST_DAYS = [date(2026, 3, 29), date(2026, 10, 25), date(2026, 3, 8), date(2026, 11, 1)]

calendars = st.sampled_from(sorted(CALENDARS)).map(CALENDARS.__getitem__)


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    """Aware instants: anywhere in 2025-2027, or near a DST change; often on a whole or half hour."""
    day = draw(
        st.one_of(
            st.dates(date(2025, 1, 1), date(2027, 12, 31)),
            st.sampled_from(DST_DAYS).flatmap(lambda d: st.integers(-3, 3).map(lambda n: d + timedelta(days=n))),
        )
    )
    clock = draw(
        st.one_of(
            st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
            st.times(),
        )
    )
    zone = draw(st.sampled_from([ZUTC, BERLIN, NEW_YORK]))
    # Any aware datetime is valid input, including repeated (fold) and skipped local times.
    return datetime.combine(day, clock, tzinfo=zone).replace(fold=draw(st.integers(0, 1)))


durations = st.one_of(
    st.integers(0, 200 * 4).map(lambda quarters: quarters * timedelta(minutes=15)),
    st.timedeltas(timedelta(0), timedelta(hours=200)),
)
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


@PROPERTY_SETTINGS
@given(calendars, instants(), durations)
def test_due_never_precedes_start(calendar: BusinessCalendar, start: datetime, duration: timedelta) -> None:
    due = calendar.add(start, duration)
    assert utc(due) >= utc(start)
    assert due.tzinfo is calendar.zone
    if duration:
        # The result is the end of counted time: inside a working interval or at its closing.
        assert calendar.is_working_time(due - timedelta(microseconds=1))


@PROPERTY_SETTINGS
@given(calendars, instants(), durations, durations)
def test_additions_compose(calendar: BusinessCalendar, start: datetime, d1: timedelta, d2: timedelta) -> None:
    # The boundary subtlety: when start + d1 lands exactly on a closing (e.g. Fri 17:00), the second
    # addition must continue at the next opening, which it does because add(t, d2) with d2 > 0 skips
    # non-working time first, and add(t, 0) == t. So the instants agree exactly, to the microsecond.
    assert utc(calendar.add(calendar.add(start, d1), d2)) == utc(calendar.add(start, d1 + d2))


@PROPERTY_SETTINGS
@given(calendars, instants(), durations)
def test_elapsed_inverts_add(calendar: BusinessCalendar, start: datetime, duration: timedelta) -> None:
    # Holds for every start, not only for starts in working time (the time before the first
    # opening does not count).
    assert calendar.elapsed(start, calendar.add(start, duration)) == duration


@PROPERTY_SETTINGS
@given(calendars, instants(), durations, durations)
def test_elapsed_is_additive_and_add_inverts_it(
    calendar: BusinessCalendar, start: datetime, d1: timedelta, d2: timedelta
) -> None:
    start = utc(start)
    middle, end = start + d1, start + d1 + d2  # real time, not business time
    total = calendar.elapsed(start, end)
    assert total == calendar.elapsed(start, middle) + calendar.elapsed(middle, end)
    assert total <= end - start
    # add() finds the earliest instant with that much counted time: at or before `end`.
    earliest = calendar.add(start, total)
    assert utc(earliest) <= end
    assert calendar.elapsed(earliest, end) == timedelta(0)


@PROPERTY_SETTINGS
@given(
    calendars,
    instants(),
    st.integers(0, 7 * 96),
    st.lists(st.tuples(st.integers(-8, 7 * 96), st.integers(0, 200) | st.none()), max_size=5),
)
def test_pauses_match_a_brute_force_count(
    calendar: BusinessCalendar, start: datetime, quarters: int, raw_pauses: list[tuple[int, int | None]]
) -> None:
    # Reference: walk up to a week in quarter-hour steps and count the quarters that are working
    # time and not paused. Exact, because every boundary is on the quarter-hour grid: the start is
    # snapped to it, pauses are whole quarters off the start, all working periods and DST jumps of
    # the calendars above are on whole quarters, and the zones' offsets are whole hours.
    quarter = timedelta(minutes=15)
    start = start.astimezone(UTC)
    start = start.replace(minute=start.minute // 15 * 15, second=0, microsecond=0)
    end = start + quarters * quarter
    pauses = [(start + a * quarter, None if n is None else start + (a + n) * quarter) for a, n in raw_pauses]

    def paused(t: datetime) -> bool:
        return any(p <= t < (end if q is None else q) for p, q in pauses)

    steps = (start + i * quarter for i in range(quarters))
    counted = sum(1 for t in steps if calendar.is_working_time(t) and not paused(t))
    assert calendar.elapsed(start, end, pauses) == counted * quarter


@PROPERTY_SETTINGS
@given(instants(), durations, st.lists(st.tuples(instants(), instants()), max_size=4))
def test_always_on_is_wall_clock_minus_merged_pauses(
    start: datetime, duration: timedelta, raw_pauses: list[tuple[datetime, datetime]]
) -> None:
    clock = AlwaysOnCalendar()
    end = clock.add(start, duration)
    assert end.tzinfo is start.tzinfo
    start, end = utc(start), utc(end)
    assert end - start == duration
    assert clock.elapsed(start, end) == duration
    pauses = [(min(a, b), max(a, b)) for a, b in ((utc(a), utc(b)) for a, b in raw_pauses)]
    # Reference: the union of the clipped pauses, measured by sweeping their sorted endpoints.
    clipped = sorted((max(a, start), min(b, end)) for a, b in pauses if max(a, start) < min(b, end))
    covered, reach = timedelta(0), start
    for a, b in clipped:
        if b > reach:
            covered += b - max(a, reach)
            reach = b
    assert clock.elapsed(start, end, pauses) == duration - covered
