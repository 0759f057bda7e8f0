"""A ticket's SLA clocks, on opsgov.sla.

Which clock
-----------
Each tier (P1..P4, ``policy.support.tiers``) has a first-response and a resolution target. A tier named
in ``policy.support.business_hours_tiers`` (P3 and P4 by default) counts only working time of the
policy's business calendar (``opsgov.sla.policy_calendar``), so its targets are read as business time:
"4 hours" is 4 business hours, "1 day" one business day (``business_day_hours``), "1 week" five business
days. The other tiers run around the clock (``opsgov.sla.AlwaysOnCalendar``), except for targets written
in business units, which are business time on any tier.

Pauses
------
Both clocks start when opsgov received the request (``Ticket.opened_at``). While a ticket waits on the
customer the clocks stop (when ``pause_while_waiting_on_customer``); between a resolution and a reopen
the resolution clock stops. The due instant is where the counted time, minus the pauses, reaches the
target: :func:`clock_due` walks the unpaused stretches in order. While a pause is still running the due
instant is unknown (None): the clock is paused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from opsgov.policy import Span, Unit, get_policy
from opsgov.sla import AlwaysOnCalendar, Calendar, Pause, policy_calendar, target_length

_ZERO = timedelta(0)


@dataclass(frozen=True)
class TierClock:
    """The calendar a tier's target runs on and the target's length of counted time."""

    calendar: Calendar
    length: timedelta


def tier_clock(priority: str, which: str) -> TierClock:
    """The clock of `priority`'s target `which` ("response" or "resolution") under the effective policy."""
    policy = get_policy().support
    tier = policy.tiers[priority]
    target: Span = tier.response if which == "response" else tier.resolution
    business = policy_calendar()
    if target.unit.is_business:
        return TierClock(business, target_length(target, calendar=business))
    if priority in policy.business_hours_tiers:
        day = timedelta(hours=get_policy().business_calendar.business_day_hours)
        length = {
            Unit.MINUTES: timedelta(minutes=target.amount),
            Unit.HOURS: timedelta(hours=target.amount),
            Unit.DAYS: day * target.amount,
            Unit.WEEKS: day * 5 * target.amount,
        }.get(target.unit, target.approximate(get_policy().business_calendar.business_day_hours))
        return TierClock(business, length)
    return TierClock(AlwaysOnCalendar(business.zone), target.approximate())


def _merged(pauses: Iterable[Pause], start: datetime) -> tuple[list[tuple[datetime, datetime]], datetime | None]:
    """Closed pauses merged and sorted (UTC, from `start` on), and the start of a running pause if any."""
    closed: list[tuple[datetime, datetime]] = []
    running: datetime | None = None
    for p_start, p_end in pauses:
        low = max(p_start.astimezone(UTC), start)
        if p_end is None:
            running = low if running is None else min(running, low)
            continue
        high = p_end.astimezone(UTC)
        if high > low:
            closed.append((low, high))
    closed.sort()
    merged: list[tuple[datetime, datetime]] = []
    for low, high in closed:
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged, running


def clock_due(start: datetime, length: timedelta, calendar: Calendar, pauses: Sequence[Pause] = ()) -> datetime | None:
    """The instant at which `length` of counted time since `start`, outside `pauses`, has passed.

    None when a running pause (no end) starts before that instant: the clock is paused.
    """
    begin = start.astimezone(UTC)
    merged, running = _merged(pauses, begin)
    remaining = length
    cursor = begin
    for low, high in [*merged, *([(running, None)] if running is not None else [])]:
        if high is not None and high <= cursor:
            continue
        segment_end = max(low, cursor)
        counted = calendar.elapsed(cursor, segment_end)
        if counted >= remaining:
            return calendar.add(cursor, remaining).astimezone(UTC)
        remaining -= counted
        if high is None:
            return None
        cursor = max(cursor, high)
    return calendar.add(cursor, remaining).astimezone(UTC)


def clock_elapsed(start: datetime, end: datetime, calendar: Calendar, pauses: Sequence[Pause] = ()) -> timedelta:
    """Counted time between `start` and `end` outside `pauses` (a running pause lasts until `end`)."""
    return calendar.elapsed(start, end, pauses)


@dataclass(frozen=True)
class ClockInstants:
    """Due and at-risk instants of one clock (None while paused)."""

    due_at: datetime | None
    at_risk_at: datetime | None


def instants(
    priority: str, which: str, start: datetime, pauses: Sequence[Pause] = (), *, share: float | None = None
) -> ClockInstants:
    """When `priority`'s `which` target falls due and when it becomes at risk (the policy's share)."""
    clock = tier_clock(priority, which)
    if share is None:
        share = get_policy().support.at_risk_share
    return ClockInstants(
        due_at=clock_due(start, clock.length, clock.calendar, pauses),
        at_risk_at=clock_due(start, clock.length * share, clock.calendar, pauses),
    )


def describe(due_at: datetime | None, *, now: datetime, at_risk_at: datetime | None = None) -> tuple[str, str]:
    """A clock in words and a colour for people: ("due in 2 h 10 min", "warning")."""
    if due_at is None:
        return "paused", "muted"
    delta = due_at - now
    words = _words(abs(delta))
    if delta < _ZERO:
        return f"overdue by {words}", "danger"
    if at_risk_at is not None and at_risk_at <= now:
        return f"due in {words} (at risk)", "warning"
    return f"due in {words}", "success"


def _words(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min"
