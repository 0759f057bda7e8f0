"""When windows and freezes occur: RFC 5545 recurrence rules (python-dateutil) or cron (cronsim), in a time zone.

Both are evaluated in the record's own time zone on the wall clock, so a window
"every Sunday at 02:30 Europe/Berlin" stays at 02:30 local time across DST:

- A recurrence rule (``FREQ=WEEKLY;BYDAY=SU``) repeats the local wall time of
  its first start. A wall time that DST skips (02:30 on the last Sunday of March
  in Berlin) is read with the UTC offset before the gap, as RFC 5545 asks
  (3.3.5): it starts at 03:30 summer time. A wall time that happens twice (the
  last Sunday of October) is its first instance (summer time).
- A cron expression (5 fields) follows cron's own rule through cronsim: a
  skipped time runs at the end of the gap (03:00), a repeated one once.

Durations are elapsed time: a 2-hour window that starts before a DST change
lasts two real hours.

Every function returns aware UTC datetimes. A rule or expression that does not
parse, or that never occurs within :data:`NEVER_HORIZON` of its first start,
raises :class:`RecurrenceError` with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import islice
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from dateutil.rrule import rrule, rrulestr

#: A rule with no occurrence this long after its first start "never occurs" and is refused.
NEVER_HORIZON = timedelta(days=5 * 366)
#: At most this many occurrences are listed by one call (a calendar page asks for a month or a year).
MAX_OCCURRENCES = 5000


class RecurrenceError(ValueError):
    """A recurrence that cannot be used, with the reason."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RecurrenceError(f"{name!r} is not a time zone (write e.g. 'Europe/Berlin')") from None


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall time of `moment` in `tz`."""
    return moment.astimezone(tz).replace(tzinfo=None)


def _aware(wall: datetime, tz: ZoneInfo) -> datetime:
    """A naive wall time in `tz` as UTC: RFC 5545's reading (fold 0; a skipped time takes the offset before the gap)."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def parse_rrule(text: str, *, first_start: datetime, tz: ZoneInfo) -> rrule:
    """The rule of `text` from `first_start`, refused (RecurrenceError) when it does not parse or never occurs."""
    rule = _rule(text, first_start, tz)
    if rule.after(_local(first_start, tz) + NEVER_HORIZON, inc=True) is None and not list(
        islice(rule.xafter(_local(first_start, tz), count=1, inc=True), 1)
    ):
        raise RecurrenceError("the recurrence rule never occurs")
    return rule


@lru_cache(maxsize=1024)
def _rule(text: str, first_start: datetime, tz: ZoneInfo) -> rrule:
    """The parsed rule (kept: the calendar and conflict checks read the same windows' rules again and again)."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    if not body:
        raise RecurrenceError("the recurrence rule is empty")
    if "DTSTART" in body.upper() or "\n" in body:
        raise RecurrenceError("give only the RRULE part (e.g. FREQ=WEEKLY;BYDAY=SU); the first start is its own field")
    try:
        rule = rrulestr(body, dtstart=_local(first_start, tz), forceset=False)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise RecurrenceError(f"the recurrence rule does not parse: {error}") from None
    if not isinstance(rule, rrule):
        raise RecurrenceError("the recurrence rule does not parse")
    return rule


def check_cron(expression: str, *, tz: ZoneInfo, first_start: datetime | None = None) -> None:
    text = expression.strip()
    start = (first_start or datetime.now(UTC)).astimezone(tz)
    try:
        iterator = CronSim(text, start)
        first = next(iterator)
    except CronSimError as error:
        raise RecurrenceError(f"the cron expression {text!r} does not parse: {error}") from None
    except StopIteration:
        raise RecurrenceError(f"the cron expression {text!r} never occurs") from None
    if first - start > NEVER_HORIZON:
        raise RecurrenceError(f"the cron expression {text!r} never occurs")


def rrule_starts(
    text: str, *, first_start: datetime, tz: ZoneInfo, start: datetime, end: datetime
) -> Iterator[datetime]:
    """UTC starts of `text` (after `first_start`) in [start, end). A rule that never occurs yields nothing (windows
    are validated with parse_rrule when saved)."""
    rule = _rule(text, first_start, tz)
    # Wall times a day either side: the UTC conversion moves them by at most the zone's offset.
    lo, hi = _local(start, tz) - timedelta(days=1), _local(end, tz) + timedelta(days=1)
    count = 0
    for wall in rule.xafter(lo, inc=True):
        if wall > hi or count >= MAX_OCCURRENCES:
            return
        moment = _aware(wall, tz)
        if start <= moment < end:
            count += 1
            yield moment


def cron_starts(expression: str, *, tz: ZoneInfo, start: datetime, end: datetime) -> Iterator[datetime]:
    """UTC instants in [start, end) at which `expression` fires in `tz`."""
    try:
        iterator = CronSim(expression.strip(), (start - timedelta(seconds=1)).astimezone(tz))
    except CronSimError as error:
        raise RecurrenceError(f"the cron expression {expression!r} does not parse: {error}") from None
    for count, moment in enumerate(iterator):
        instant = moment.astimezone(UTC)
        if instant >= end or count >= MAX_OCCURRENCES:
            return
        if instant >= start:
            yield instant


def cron_previous(expression: str, *, tz: ZoneInfo, at: datetime) -> datetime | None:
    """The last instant at or before `at` at which `expression` fired in `tz` (None if it never did in 5 years)."""
    try:
        iterator = CronSim(expression.strip(), (at + timedelta(seconds=1)).astimezone(tz), reverse=True)
        moment = next(iterator)
    except (CronSimError, StopIteration):
        return None
    instant = moment.astimezone(UTC)
    return instant if at - instant <= NEVER_HORIZON else None


def cron_next(expression: str, *, tz: ZoneInfo, after: datetime) -> datetime | None:
    """The first instant strictly after `after` at which `expression` fires in `tz`."""
    try:
        return next(CronSim(expression.strip(), after.astimezone(tz))).astimezone(UTC)
    except (CronSimError, StopIteration):
        return None


def intervals(starts: Iterator[datetime] | list[datetime], duration: timedelta) -> list[tuple[datetime, datetime]]:
    return [(moment, moment + duration) for moment in starts]
