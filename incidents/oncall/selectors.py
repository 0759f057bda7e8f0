"""Reads of on-call: who is on call when, the shifts of a schedule computed from its layers and
overrides, and who answers for a service now (`responders`).

Pure functions over model instances (plus `schedule_queryset`, which builds the
prefetching queryset they are meant to be given). Nothing here writes; the
writes are in incidents.oncall.services.

The model
---------
A schedule has a time zone, layers and overrides. All results are computed on
the UTC timeline and returned as UTC datetimes; local wall-clock times (handoff
times, restrictions, days) are read in the schedule's zone.

Rotation of one layer. The layer's members, ordered by `position`, take turns
in *rotation shifts* numbered 0, 1, 2, ... from `rotation_start`; shift ``n``
belongs to the member at index ``n mod len(members)``.

* daily: a handoff at `handoff_time` local time on every local date;
* weekly: a handoff at `handoff_time` local time on every `handoff_weekday`
  (0 = Monday);
* hours: a handoff every `rotation_hours` real hours from `rotation_start`
  (`handoff_time` and `handoff_weekday` are ignored).

Shift 0 starts at `rotation_start` and ends at the first handoff strictly after
it; each later shift runs from one handoff to the next. So when `rotation_start`
is not itself at a handoff (a daily rotation starting at 00:00 with handoffs at
09:00), the first member has a *partial first shift* until the first handoff
and the second member takes over there. An "hours" rotation always starts at a
handoff.

A local handoff time is the first instant at which the local clock shows that
time or later (opsgov.sla's rule): for a time repeated when clocks go back, its
first occurrence; for a time skipped when clocks go forward, the instant of the
jump. Daily and weekly handoffs therefore follow DST: a daily shift across the
spring-forward night is 23 real hours, across the fall-back night 25; "hours"
shifts are always exactly N real hours.

Coverage of one layer. A layer covers nothing before `rotation_start`, from
`ends_at` on, or when it has no members. A restriction cuts its coverage
further to local *restriction windows*:

* `restrict_start`/`restrict_end` (both or neither): every local day from
  `restrict_start` to `restrict_end`; an end before the start means the window
  runs overnight into the next local day (22:00-06:00);
* `restrict_weekdays` (0 = Monday; empty = every day): the weekdays on which a
  window *starts* (Friday 22:00-06:00 belongs to Friday); without times, the
  whole local day of those weekdays.

A rotation shift cut by a restriction is still that member's turn: the rotation
counts shifts, not covered time (a weekly rotation restricted to business hours
gives one member all five working days of a week).

Priority. At each instant the first of these that covers it decides who is on
call: the overrides covering it, latest created first (ties: the higher id);
then the layers by `priority`, higher first (ties: the older layer, lower id,
the model's ordering). Nobody covering an instant is a *gap*.

Results. `shifts` gives the final, non-overlapping shifts within [start, end),
clipped to it, ordered by start; adjacent pieces from the same source for the
same person (a one-member rotation, consecutive turns of the same person) are
merged into one shift. `gaps` gives the intervals of [start, end) that no shift
covers. `on_call_at` is the person of the shift covering an instant.

Cost. Each layer starts at the rotation shift covering `start`, found
arithmetically (no walk from `rotation_start`), and stops at `end`; the work is
proportional to the number of handoffs, restriction windows and overrides in
[start, end). Give the functions schedules from `schedule_queryset` (a fixed
number of queries for any number of schedules); other instances work too, at
the cost of the queries their related managers make.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django.db.models import Prefetch, QuerySet

# The SLA clock's rule for local times (first instant showing a wall time) and its
# aware-datetime check; shared so both clocks agree on DST nights.
from opsgov.sla import as_utc, first_instant_showing

from ..models import (
    EscalationLevel,
    LayerMember,
    RotationKind,
    Schedule,
    ScheduleLayer,
    ScheduleOverride,
    ServiceEscalation,
)

__all__ = [
    "MAX_RANGE",
    "OVERRIDE_SOURCE",
    "Interval",
    "OnCallStatus",
    "Shift",
    "gaps",
    "gaps_between",
    "on_call_at",
    "on_call_status",
    "responders",
    "schedule_queryset",
    "shifts",
    "zone_of",
]

#: The longest range the API and the pages compute shifts for (about a quarter).
MAX_RANGE = timedelta(days=93)

#: `Shift.source` of a shift that comes from an override.
OVERRIDE_SOURCE = "override"

#: A stretch of time [start, end) between two instants.
Interval = tuple[datetime, datetime]

_DAY = timedelta(days=1)
_MICROSECOND = timedelta(microseconds=1)
# `on_call_status` looks this far ahead first, then up to MAX_RANGE if the answer lies further.
_STATUS_HORIZONS = (timedelta(days=8), MAX_RANGE)


@dataclass(frozen=True)
class Shift:
    """A stretch [start, end) (UTC) during which `user` is on call, and why."""

    user: User
    start: datetime
    end: datetime
    source: str  # the layer's name, or OVERRIDE_SOURCE
    layer: ScheduleLayer | None = None
    override: ScheduleOverride | None = None

    @property
    def is_override(self) -> bool:
        return self.override is not None

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class OnCallStatus:
    """Who holds a schedule at `at`, until when, and who comes next.

    `user` is None during a gap; `until` is when the current person (or the gap)
    stops: the end of their consecutive shifts, whatever their sources. `until`
    is None when that lies beyond MAX_RANGE (for instance the only member of a
    layer without end). `next_user` is the first person on call after `until`,
    from `next_start` (later than `until` when a gap lies between them).
    """

    schedule: Schedule
    at: datetime
    user: User | None
    source: str | None
    until: datetime | None
    next_user: User | None
    next_start: datetime | None


# --- Reading --------------------------------------------------------------------------------


def schedule_queryset(
    *, overrides: bool = True, overrides_after: datetime | None = None, overrides_before: datetime | None = None
) -> QuerySet[Schedule]:
    """Schedules with what the computation reads prefetched: four queries for any number of schedules.

    Layers come with their members (and users) in rotation order; overrides with
    their users, only those ending after `overrides_after` and starting before
    `overrides_before` when given (the (schedule, ends_at) index), so old
    overrides do not make it slower. `overrides=False` leaves them out (three
    queries), for pages that show the layers only.
    """
    members = LayerMember.objects.select_related("user").order_by("position")
    layers = ScheduleLayer.objects.order_by("-priority", "id").prefetch_related(Prefetch("members", queryset=members))
    lookups: list[Prefetch[Any]] = [Prefetch("layers", queryset=layers)]
    if overrides:
        rows = ScheduleOverride.objects.select_related("user").order_by("starts_at", "id")
        if overrides_after is not None:
            rows = rows.filter(ends_at__gt=overrides_after)
        if overrides_before is not None:
            rows = rows.filter(starts_at__lt=overrides_before)
        lookups.append(Prefetch("overrides", queryset=rows))
    return Schedule.objects.select_related("team").prefetch_related(*lookups).order_by("name", "id")


def zone_of(schedule: Schedule) -> tzinfo:
    """The schedule's time zone."""
    return ZoneInfo(schedule.time_zone)


# --- One layer ------------------------------------------------------------------------------


class _Rotation:
    """The rotation shifts of a layer: shift numbers and their bounds, computed arithmetically."""

    def __init__(self, layer: ScheduleLayer, zone: tzinfo) -> None:
        self.origin = as_utc(layer.rotation_start, "rotation_start")
        self.zone = zone
        self.kind = layer.rotation_kind
        if self.kind == RotationKind.HOURS:
            if not layer.rotation_hours:
                raise ValueError(f"layer {layer.pk}: an 'hours' rotation needs rotation_hours")
            self.length = timedelta(hours=layer.rotation_hours)
            return
        self.handoff_time: time = layer.handoff_time
        self.step = 7 if self.kind == RotationKind.WEEKLY else 1
        self.weekday = layer.handoff_weekday if self.kind == RotationKind.WEEKLY else None
        # The local date of the first handoff strictly after the origin.
        first = self._last_handoff_day_on_or_before(self.origin.astimezone(zone).date())
        if self._handoff(first) <= self.origin:
            first += timedelta(days=self.step)
        self.first_day = first

    def _last_handoff_day_on_or_before(self, day: date) -> date:
        if self.weekday is None:
            return day
        return day - timedelta(days=(day.weekday() - self.weekday) % 7)

    def _handoff(self, day: date) -> datetime:
        return first_instant_showing(datetime.combine(day, self.handoff_time), self.zone)

    def _handoff_number(self, k: int) -> datetime:
        """The k-th handoff after the origin (k >= 0): where shift k + 1 starts."""
        return self._handoff(self.first_day + timedelta(days=k * self.step))

    def number_at(self, at: datetime) -> int:
        """The number of the shift covering `at` (at >= origin)."""
        if self.kind == RotationKind.HOURS:
            return (at - self.origin) // self.length
        day = self._last_handoff_day_on_or_before(at.astimezone(self.zone).date())
        if self._handoff(day) > at:
            day -= timedelta(days=self.step)
        if day < self.first_day:
            return 0
        return (day - self.first_day).days // self.step + 1

    def bounds(self, number: int) -> Interval:
        """[start, end) of shift `number`."""
        if self.kind == RotationKind.HOURS:
            start = self.origin + number * self.length
            return start, start + self.length
        start = self.origin if number == 0 else self._handoff_number(number - 1)
        return start, self._handoff_number(number)


@dataclass(frozen=True)
class _Piece:
    start: datetime
    end: datetime
    user: User


def _rotation_pieces(
    layer: ScheduleLayer, members: Sequence[User], zone: tzinfo, low: datetime, high: datetime
) -> list[_Piece]:
    """The layer's rotation shifts clipped to [low, high) (already within the layer's life)."""
    rotation = _Rotation(layer, zone)
    number = rotation.number_at(low)
    pieces = []
    while True:
        start, end = rotation.bounds(number)
        if start >= high:
            break
        pieces.append(_Piece(max(start, low), min(end, high), members[number % len(members)]))
        number += 1
    return pieces


def _restriction_windows(layer: ScheduleLayer, zone: tzinfo, low: datetime, high: datetime) -> list[Interval] | None:
    """The layer's restriction windows clipped to [low, high), merged; None when it is not restricted."""
    weekdays = set(layer.restrict_weekdays or ())
    opens, closes = layer.restrict_start, layer.restrict_end
    has_times = opens is not None and closes is not None
    if not weekdays and not has_times:
        return None
    windows: list[Interval] = []
    # From the day before: an overnight window of that day may reach into [low, high).
    day = low.astimezone(zone).date() - _DAY
    last = high.astimezone(zone).date()
    while day <= last:
        if not weekdays or day.weekday() in weekdays:
            if opens is not None and closes is not None:
                start = first_instant_showing(datetime.combine(day, opens), zone)
                end_day = day + _DAY if closes < opens else day
                end = first_instant_showing(datetime.combine(end_day, closes), zone)
            else:
                start = first_instant_showing(datetime.combine(day, time()), zone)
                end = first_instant_showing(datetime.combine(day + _DAY, time()), zone)
            start, end = max(start, low), min(end, high)
            if start < end:
                if windows and start <= windows[-1][1]:
                    windows[-1] = (windows[-1][0], max(windows[-1][1], end))
                else:
                    windows.append((start, end))
        day += _DAY
    return windows


def _intersect(pieces: Sequence[_Piece], windows: Sequence[Interval]) -> list[_Piece]:
    """The parts of `pieces` inside `windows` (both sorted and disjoint)."""
    result = []
    index = 0
    for piece in pieces:
        while index < len(windows) and windows[index][1] <= piece.start:
            index += 1
        for w_start, w_end in itertools.islice(windows, index, None):
            if w_start >= piece.end:
                break
            start, end = max(piece.start, w_start), min(piece.end, w_end)
            if start < end:
                result.append(_Piece(start, end, piece.user))
    return result


def _layer_coverage(layer: ScheduleLayer, zone: tzinfo, start: datetime, end: datetime) -> list[_Piece]:
    """What `layer` covers in [start, end): its rotation cut to its life and its restriction."""
    members = [member.user for member in sorted(layer.members.all(), key=lambda member: member.position)]
    low = max(start, as_utc(layer.rotation_start, "rotation_start"))
    high = end if layer.ends_at is None else min(end, as_utc(layer.ends_at, "ends_at"))
    if not members or low >= high:
        return []
    pieces = _rotation_pieces(layer, members, zone, low, high)
    windows = _restriction_windows(layer, zone, low, high)
    return pieces if windows is None else _intersect(pieces, windows)


# --- The schedule ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """One candidate for an instant, in priority order: an override or a layer."""

    pieces: list[_Piece]
    name: str
    layer: ScheduleLayer | None = None
    override: ScheduleOverride | None = None


def _sources(schedule: Schedule, start: datetime, end: datetime) -> list[_Source]:
    """Every override and layer touching [start, end), highest precedence first."""
    zone = zone_of(schedule)
    overrides: list[tuple[ScheduleOverride, _Piece]] = []
    for override in schedule.overrides.all():
        low = max(start, as_utc(override.starts_at, "starts_at"))
        high = min(end, as_utc(override.ends_at, "ends_at"))
        if low < high:
            overrides.append((override, _Piece(low, high, override.user)))
    # Latest created first.
    overrides.sort(key=lambda pair: (pair[0].created_at, pair[0].pk or 0), reverse=True)
    sources = [_Source(pieces=[piece], name=OVERRIDE_SOURCE, override=override) for override, piece in overrides]
    layers = sorted(schedule.layers.all(), key=lambda layer: (-layer.priority, layer.pk or 0))
    for layer in layers:
        pieces = _layer_coverage(layer, zone, start, end)
        if pieces:
            sources.append(_Source(pieces=pieces, name=layer.name, layer=layer))
    return sources


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The final on-call shifts of `schedule` within [start, end), clipped to it, in order.

    Never overlapping; gaps between them are times nobody is on call (see the
    module docstring for the rules).
    """
    start, end = as_utc(start, "start"), as_utc(end, "end")
    if end <= start:
        return []
    sources = _sources(schedule, start, end)
    points = sorted(
        {start, end} | {t for source in sources for piece in source.pieces for t in (piece.start, piece.end)}
    )
    cursors = [0] * len(sources)
    result: list[Shift] = []
    for low, high in itertools.pairwise(points):
        winner: tuple[_Source, _Piece] | None = None
        for index, source in enumerate(sources):
            cursor = cursors[index]
            while cursor < len(source.pieces) and source.pieces[cursor].end <= low:
                cursor += 1
            cursors[index] = cursor
            # A piece starting at or before `low` covers all of [low, high): every bound is a point.
            if cursor < len(source.pieces) and source.pieces[cursor].start <= low:
                winner = source, source.pieces[cursor]
                break
        if winner is None:
            continue
        source, piece = winner
        last = result[-1] if result else None
        if (
            last is not None
            and last.end == low
            and last.user.pk == piece.user.pk
            and last.layer is source.layer
            and last.override is source.override
        ):
            result[-1] = Shift(last.user, last.start, high, last.source, last.layer, last.override)
        else:
            result.append(Shift(piece.user, low, high, source.name, source.layer, source.override))
    return result


def gaps_between(items: Iterable[Shift], start: datetime, end: datetime) -> list[Interval]:
    """The parts of [start, end) that `items` (ordered, non-overlapping shifts) leave uncovered."""
    start, end = as_utc(start, "start"), as_utc(end, "end")
    result = []
    cursor = start
    for shift in items:
        if shift.start > cursor:
            result.append((cursor, min(shift.start, end)))
        cursor = max(cursor, shift.end)
    if cursor < end:
        result.append((cursor, end))
    return [(low, high) for low, high in result if low < high]


def gaps(schedule: Schedule, start: datetime, end: datetime) -> list[Interval]:
    """The intervals of [start, end) with nobody on call, in order (all of it for an empty schedule)."""
    return gaps_between(shifts(schedule, start, end), start, end)


def on_call_at(schedule: Schedule, at: datetime) -> User | None:
    """Who is on call at the instant `at`; None in a gap."""
    at = as_utc(at, "at")
    found = shifts(schedule, at, at + _MICROSECOND)
    return found[0].user if found else None


def on_call_status(schedule: Schedule, at: datetime) -> OnCallStatus:
    """Who holds `schedule` at `at`, until when, and who is next (see OnCallStatus).

    Looks 8 days ahead, and up to MAX_RANGE only when the answer lies further.
    """
    at = as_utc(at, "at")
    status = None
    for horizon in _STATUS_HORIZONS:
        status, complete = _status_within(schedule, at, shifts(schedule, at, at + horizon), at + horizon)
        if complete:
            break
    assert status is not None
    return status


def _status_within(
    schedule: Schedule, at: datetime, found: list[Shift], horizon: datetime
) -> tuple[OnCallStatus, bool]:
    """The status read from `found` (the shifts of [at, horizon)); False when it needs a longer look."""
    index = 0
    user: User | None = None
    source: str | None = None
    if found and found[0].start == at:
        user, source = found[0].user, found[0].source
        until = found[0].end
        index = 1
        while index < len(found) and found[index].start == until and found[index].user.pk == user.pk:
            until = found[index].end
            index += 1
    else:
        until = found[0].start if found else horizon
    following = found[index] if index < len(found) else None
    complete = following is not None
    return (
        OnCallStatus(
            schedule=schedule,
            at=at,
            user=user,
            source=source,
            until=until if until < horizon or complete else None,
            next_user=following.user if following else None,
            next_start=following.start if following else None,
        ),
        complete,
    )


# --- Who answers for a service now (opsgov.registry.on_call) ----------------------------------
#
# Asked by other apps' gates. A service's responders are the people the first
# level of its escalation policy notifies at that instant: the schedule's
# on-call person (if it has one and the schedule is not in a gap) and the
# level's named users. A service without an escalation policy has none.
# Queries: the links with their first levels and named users, and the
# schedules (`schedule_queryset`: four), for any number of services.


def _name(user: object) -> str:
    full = getattr(user, "get_full_name", lambda: "")()
    return str(full or getattr(user, "username", user))


def responders(*, service_ids: Iterable[int], now: datetime) -> dict[int, list[str]]:
    """Per service id: the display names its escalation path notifies first at `now` (empty list: nobody)."""
    ids = list(service_ids)
    result: dict[int, list[str]] = {service_id: [] for service_id in ids}
    levels = EscalationLevel.objects.order_by("position").prefetch_related("users")
    links = list(
        ServiceEscalation.objects.filter(service_id__in=ids)
        .select_related("policy")
        .prefetch_related(Prefetch("policy__levels", queryset=levels))
    )
    first_levels = {link.service_id: next(iter(link.policy.levels.all()), None) for link in links}
    schedule_ids = {level.schedule_id for level in first_levels.values() if level and level.schedule_id}
    current = schedule_queryset(overrides_after=now, overrides_before=now + timedelta(microseconds=1))
    schedules = {schedule.pk: schedule for schedule in current.filter(pk__in=schedule_ids)}
    for service_id, level in first_levels.items():
        if level is None:
            continue
        names = [_name(user) for user in level.users.all()]
        schedule = schedules.get(level.schedule_id) if level.schedule_id else None
        if schedule is not None:
            person = on_call_at(schedule, now)
            if person is not None:
                names.insert(0, _name(person))
        result[service_id] = list(dict.fromkeys(names))
    return result
