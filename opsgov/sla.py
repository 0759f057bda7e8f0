"""The SLA clock: when a target falls due, and how much of it has been used.

Every time-based target in opsgov (incident response targets, support SLAs,
review due dates) runs on one of two clocks, both implementing `Calendar`:

* `AlwaysOnCalendar` (24x7): every real second counts. Adding a duration is
  plain arithmetic on the UTC timeline, so "1 day" is exactly 24 real hours,
  also across a DST change (it then ends at 23:00 or 01:00 local time).

* `BusinessCalendar`: only working time counts.

The business model
------------------
Working time is defined in LOCAL wall-clock time of the calendar's zone: each
weekday (0 = Monday) has a list of working periods such as 09:00-17:00, and
holidays (local dates) have none. For every local date the periods become
*working intervals*, pairs of real instants, and all durations are measured on
the UTC timeline between them. So 09:00-17:00 is 8 hours of working time on an
ordinary day and also on a DST-change day (the change happens at night).

A period boundary is the first instant at which the local clock shows that
time or later. For ordinary times that is the one instant showing it; for a
time repeated when clocks go back, its first occurrence; for a time skipped
when clocks go forward, the instant of the jump. This keeps intervals ordered
and never negative even for periods around 02:00-03:00 on DST nights (such a
period is 0 hours on the spring night and 2 hours on the autumn night).

A business day is a fixed amount of working time, `business_day` (the policy's
`business_day_hours`, 8 hours by default): "1 business day" is 8 business
hours, whatever the day's periods add up to.

Adding and measuring
--------------------
``add(start, duration)`` is the earliest instant ``t >= start`` such that
``duration`` of counted time lies in ``[start, t]``. Consequences, for the
business calendar:

* a start outside working time starts counting at the next opening
  (Saturday 12:00 + 1 business hour = Monday 10:00 with 09:00-17:00);
* a result never lies at an opening it merely waits for: Friday 09:00 + 8
  business hours is Friday 17:00, not Monday 09:00;
* ``add(start, 0) == start``, and additions compose exactly:
  ``add(add(s, d1), d2) == add(s, d1 + d2)`` (a first addition ending exactly at
  a closing continues at the next opening in the second).

``elapsed(start, end, pauses)`` is the counted time in ``[start, end]`` that is
not covered by a pause; zero when ``end <= start``. Pauses are
``(pause_start, pause_end)`` pairs: they may overlap each other (overlaps count
once), reach outside ``[start, end]`` (clipped), and ``pause_end`` may be
``None`` for a pause still running, which lasts until ``end``. A pause that
ends before it starts is an error.

All inputs must be timezone-aware datetimes (naive ones raise ValueError).
Results of the business calendar, and of `due_at`, are in the calendar's zone.
Internally everything is computed on UTC datetimes; callers should compare and
subtract results in UTC too, because Python does wall-clock arithmetic (and
ignores `fold`) on aware datetimes that share a tzinfo.

Choosing the clock for a policy target
--------------------------------------
`due_at` and `elapsed_against` pick the clock by the target's unit (see
opsgov.policy.Span): business hours and business days on the business
calendar; minutes, hours, days and weeks on the 24x7 clock; months and years
by calendar arithmetic on the local date (same local time, e.g. 3 months after
31 January 10:00 is 30 April 10:00). `policy_calendar` is the business
calendar of the effective policy.
"""

from __future__ import annotations

import itertools
import threading
from abc import ABC, abstractmethod
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo

import holidays as holidays_lib

from opsgov.policy import WEEKDAYS, BusinessCalendarPolicy, Span, Unit, get_policy

__all__ = [
    "MAX_SEARCH_DAYS",
    "AlwaysOnCalendar",
    "BusinessCalendar",
    "Calendar",
    "Interval",
    "NoWorkingTimeError",
    "Pause",
    "due_at",
    "elapsed_against",
    "policy_calendar",
    "target_length",
]

#: `BusinessCalendar.add` gives up when the result would lie more than this
#: many days after the start (a calendar with (almost) no working time).
MAX_SEARCH_DAYS = 3660

#: A pause of the clock: (start, end); an end of None means "still paused".
Pause = tuple[datetime, datetime | None]

#: A stretch of time [start, end) between two instants.
Interval = tuple[datetime, datetime]

_ZERO = timedelta(0)
_MICROSECOND = timedelta(microseconds=1)


class NoWorkingTimeError(ValueError):
    """The business calendar has too little working time to reach the requested duration."""


# --- Shared helpers ---------------------------------------------------------------


def as_utc(value: datetime, name: str) -> datetime:
    """`value` as a UTC datetime; naive datetimes are rejected."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got the naive datetime {value.isoformat()}")
    return value.astimezone(UTC)


def _check_duration(duration: timedelta) -> None:
    if duration < _ZERO:
        raise ValueError(f"a duration to add must not be negative, got {duration}")


def _merged_pauses(pauses: Iterable[Pause], start: datetime, end: datetime) -> list[Interval]:
    """The pauses clipped to [start, end] (UTC), sorted, with overlapping ones merged."""
    clipped: list[Interval] = []
    for index, (pause_start, pause_end) in enumerate(pauses):
        p_start = as_utc(pause_start, f"pause {index} start")
        p_end = end if pause_end is None else as_utc(pause_end, f"pause {index} end")
        if pause_end is not None and p_end < p_start:
            raise ValueError(
                f"pause {index} ends ({pause_end.isoformat()}) before it starts ({pause_start.isoformat()})"
            )
        p_start, p_end = max(p_start, start), min(p_end, end)
        if p_start < p_end:
            clipped.append((p_start, p_end))
    clipped.sort()
    merged: list[Interval] = []
    for p_start, p_end in clipped:
        if merged and p_start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], p_end))
        else:
            merged.append((p_start, p_end))
    return merged


def _unpaused_time(intervals: Iterable[Interval], pauses: Sequence[Interval]) -> timedelta:
    """Total length of `intervals` not covered by `pauses` (both sorted and disjoint)."""
    total = _ZERO
    first = 0  # the first pause that may still overlap the current or a later interval
    for low, high in intervals:
        while first < len(pauses) and pauses[first][1] <= low:
            first += 1
        covered = _ZERO
        for p_start, p_end in itertools.islice(pauses, first, None):
            if p_start >= high:
                break
            covered += min(high, p_end) - max(low, p_start)
        total += (high - low) - covered
    return total


# --- Calendars --------------------------------------------------------------------


class Calendar(ABC):
    """A clock deciding which time counts towards a target."""

    @abstractmethod
    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant at which `duration` of counted time has passed since `start`."""

    @abstractmethod
    def elapsed(self, start: datetime, end: datetime, pauses: Iterable[Pause] = ()) -> timedelta:
        """Counted time between `start` and `end`, minus `pauses`; zero when `end <= start`."""

    @abstractmethod
    def is_working_time(self, at: datetime) -> bool:
        """Whether time counts at the instant `at`."""


class AlwaysOnCalendar(Calendar):
    """The 24x7 clock: every real second counts.

    Results are in `zone` when given, else in the time zone of `start`.
    """

    def __init__(self, zone: tzinfo | None = None) -> None:
        self.zone = zone

    def __repr__(self) -> str:
        return f"AlwaysOnCalendar(zone={self.zone!r})"

    def add(self, start: datetime, duration: timedelta) -> datetime:
        _check_duration(duration)
        # On the UTC timeline: aware arithmetic within one zone would be wall-clock
        # arithmetic (23 or 25 real hours for "1 day" across a DST change).
        result = as_utc(start, "start") + duration
        return result.astimezone(self.zone or start.tzinfo)

    def elapsed(self, start: datetime, end: datetime, pauses: Iterable[Pause] = ()) -> timedelta:
        start_utc, end_utc = as_utc(start, "start"), as_utc(end, "end")
        merged = _merged_pauses(pauses, start_utc, end_utc)
        if end_utc <= start_utc:
            return _ZERO
        return _unpaused_time([(start_utc, end_utc)], merged)

    def is_working_time(self, at: datetime) -> bool:
        as_utc(at, "at")
        return True


class _Holidays(Container[date]):
    """Extra holiday dates plus, optionally, a country's public holidays.

    The `holidays` package fills in a year on the first membership test for a
    date in it; the lock keeps that safe when one calendar serves many threads.
    """

    def __init__(self, country: holidays_lib.HolidayBase | None, extra: Iterable[date]) -> None:
        self._country = country
        self._extra = frozenset(extra)
        self._lock = threading.Lock()

    def __contains__(self, day: object) -> bool:
        if day in self._extra:
            return True
        if self._country is None:
            return False
        with self._lock:
            return day in self._country


def first_instant_showing(wall: datetime, zone: tzinfo) -> datetime:
    """The first instant (UTC) at which the local clock in `zone` shows the naive time `wall` or later.

    That is the only instant showing `wall`, or its first occurrence when clocks go
    back, or the instant of the jump when clocks go forward over `wall`.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # `wall` is skipped. Read with the offset after the jump it is an instant
    # before the jump, with the offset before the jump (fold=0) one after it;
    # bisect between them for the instant at which the offset changes.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = sorted((before, first))
    low_offset = low.astimezone(zone).utcoffset()
    while high - low > _MICROSECOND:
        middle = low + (high - low) // 2
        if middle.astimezone(zone).utcoffset() == low_offset:
            low = middle
        else:
            high = middle
    return high


class BusinessCalendar(Calendar):
    """Working hours in a time zone, minus holidays (see the module docstring for the model).

    `working_hours` maps a weekday (0 = Monday ... 6 = Sunday) to its working
    periods as (start, end) local times; missing weekdays have none. `holidays`
    is any container of local dates (a set, or a `holidays.HolidayBase`).
    `business_day` is the working time that makes one business day.
    """

    def __init__(
        self,
        zone: tzinfo,
        working_hours: Mapping[int, Sequence[tuple[time, time]]],
        holidays: Container[date] = frozenset(),
        business_day: timedelta = timedelta(hours=8),
    ) -> None:
        periods: dict[int, tuple[tuple[time, time], ...]] = {}
        for weekday, day_periods in working_hours.items():
            if weekday not in range(7):
                raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {weekday!r}")
            ordered = sorted(day_periods)
            for opens, closes in ordered:
                if opens.tzinfo is not None or closes.tzinfo is not None:
                    raise ValueError("working periods are local wall-clock times and must be naive")
                if opens >= closes:
                    raise ValueError(f"weekday {weekday}: period {opens}-{closes} must start before it ends")
            for (_, closes), (opens, _) in itertools.pairwise(ordered):
                if opens < closes:
                    raise ValueError(f"weekday {weekday}: working periods overlap")
            periods[weekday] = tuple(ordered)
        if not any(periods.values()):
            raise NoWorkingTimeError("a business calendar needs working hours on at least one weekday")
        if business_day <= _ZERO:
            raise ValueError(f"business_day must be positive, got {business_day}")
        self.zone = zone
        self.working_hours = periods
        self.holidays = holidays
        self.business_day = business_day

    @classmethod
    def from_policy(cls, policy: BusinessCalendarPolicy) -> BusinessCalendar:
        """The calendar described by the policy's [business_calendar] section.

        Public holidays of `holiday_country` (and `holiday_subdivision`) are
        computed by the `holidays` package year by year as dates are looked up.
        """
        country = None
        if policy.holiday_country is not None:
            country = holidays_lib.country_holidays(policy.holiday_country, subdiv=policy.holiday_subdivision)
        return cls(
            zone=policy.zone,
            working_hours={
                WEEKDAYS.index(day): [(p.start, p.end) for p in periods]
                for day, periods in policy.working_hours.items()
            },
            holidays=_Holidays(country, policy.extra_holidays),
            business_day=timedelta(hours=policy.business_day_hours),
        )

    def __repr__(self) -> str:
        return f"BusinessCalendar(zone={self.zone!r}, business_day={self.business_day})"

    # -- Calendar operations --

    def add(self, start: datetime, duration: timedelta) -> datetime:
        _check_duration(duration)
        start_utc = as_utc(start, "start")
        remaining = duration
        if remaining == _ZERO:
            return start_utc.astimezone(self.zone)
        for opens, closes in self._working_intervals(start_utc, None):
            available = closes - opens
            if remaining <= available:
                return (opens + remaining).astimezone(self.zone)
            remaining -= available
        raise AssertionError("unreachable: _working_intervals is unbounded without an end")  # pragma: no cover

    def elapsed(self, start: datetime, end: datetime, pauses: Iterable[Pause] = ()) -> timedelta:
        start_utc, end_utc = as_utc(start, "start"), as_utc(end, "end")
        merged = _merged_pauses(pauses, start_utc, end_utc)
        if end_utc <= start_utc:
            return _ZERO
        return _unpaused_time(self._working_intervals(start_utc, end_utc), merged)

    def is_working_time(self, at: datetime) -> bool:
        at_utc = as_utc(at, "at")
        return any(True for _ in self._working_intervals(at_utc, at_utc + _MICROSECOND))

    # -- Working intervals --

    def day_intervals(self, day: date) -> list[Interval]:
        """The working intervals of the local date `day`, as UTC instants in order."""
        if day in self.holidays:
            return []
        intervals = []
        for opens, closes in self.working_hours.get(day.weekday(), ()):
            low = first_instant_showing(datetime.combine(day, opens), self.zone)
            high = first_instant_showing(datetime.combine(day, closes), self.zone)
            if low < high:  # empty only for a period skipped entirely by a DST jump
                intervals.append((low, high))
        return intervals

    def _working_intervals(self, start: datetime, end: datetime | None) -> Iterator[Interval]:
        """Working intervals clipped to [start, end] (UTC), in order; unbounded when `end` is None.

        Day by day from the local date of `start`: intervals of earlier dates end
        before the first instant of that date, so before `start`. Stops at the
        first date beginning at or after `end`. Without an end, gives up with
        NoWorkingTimeError after MAX_SEARCH_DAYS days.
        """
        first_day = start.astimezone(self.zone).date()
        for offset in itertools.count():
            day = first_day + timedelta(days=offset)
            if end is None:
                if offset > MAX_SEARCH_DAYS:
                    raise NoWorkingTimeError(
                        f"no result within {MAX_SEARCH_DAYS} days after {start.astimezone(self.zone).isoformat()}: "
                        "the calendar has too little working time (check working hours and holidays)"
                    )
            elif first_instant_showing(datetime.combine(day, time()), self.zone) >= end:
                return
            for opens, closes in self.day_intervals(day):
                low = max(opens, start)
                high = closes if end is None else min(closes, end)
                if low < high:
                    yield low, high


# --- Policy targets ---------------------------------------------------------------


def target_length(target: Span, *, calendar: BusinessCalendar) -> timedelta:
    """The counted time `target` stands for on its clock (see `elapsed_against`).

    Business days are `calendar.business_day` each. Months and years have no
    fixed length and raise ValueError; compare instants with `due_at` instead.
    """
    if target.unit == Unit.BUSINESS_HOURS:
        return target.amount * timedelta(hours=1)
    if target.unit == Unit.BUSINESS_DAYS:
        return target.amount * calendar.business_day
    return target.as_timedelta()


def due_at(start: datetime, target: Span, *, calendar: BusinessCalendar, always_on: Calendar | None = None) -> datetime:
    """When `target` counted from `start` falls due, in the zone of `calendar`.

    Business hours and days are added on `calendar`; minutes, hours, days and
    weeks on `always_on` (default: the 24x7 clock, so "1 day" is exactly 24 real
    hours); months and years by calendar arithmetic on the local date in
    `calendar.zone`, keeping the local time (a local time skipped by DST on the
    due date becomes the instant of the jump).
    """
    if target.unit.is_business:
        return calendar.add(start, target_length(target, calendar=calendar))
    if target.unit.is_calendar:
        local = as_utc(start, "start").astimezone(calendar.zone)
        wall = target.after(local).replace(tzinfo=None)
        return first_instant_showing(wall, calendar.zone).astimezone(calendar.zone)
    clock = always_on or AlwaysOnCalendar(calendar.zone)
    return clock.add(start, target_length(target, calendar=calendar)).astimezone(calendar.zone)


def elapsed_against(
    target: Span,
    start: datetime,
    end: datetime,
    pauses: Iterable[Pause] = (),
    *,
    calendar: BusinessCalendar,
    always_on: Calendar | None = None,
) -> timedelta:
    """Counted time between `start` and `end` minus `pauses`, on the clock that `target` runs on.

    Business units count on `calendar`, every other unit on `always_on`
    (default: the 24x7 clock).
    """
    clock: Calendar = calendar if target.unit.is_business else (always_on or AlwaysOnCalendar(calendar.zone))
    return clock.elapsed(start, end, pauses)


_policy_calendar: tuple[BusinessCalendarPolicy, BusinessCalendar] | None = None


def policy_calendar() -> BusinessCalendar:
    """The business calendar of the effective policy, built once per policy object."""
    global _policy_calendar
    section = get_policy().business_calendar
    cached = _policy_calendar
    if cached is None or cached[0] is not section:
        cached = (section, BusinessCalendar.from_policy(section))
        _policy_calendar = cached
    return cached[1]
