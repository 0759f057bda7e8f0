"""Golden tests of the on-call computation (incidents.oncall.selectors), expected values worked out by hand.

Instants are written with their UTC offset in the schedule's zone, so a reader
can check each one against a calendar: Europe/Berlin is +01:00 in winter and
+02:00 in summer (clocks go forward on 2026-03-29 at 02:00, back on 2026-10-25
at 03:00); America/New_York is -05:00 / -04:00 (forward 2026-03-08 02:00, back
2026-11-01 02:00).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents.models import RotationKind, Schedule, ScheduleLayer
from incidents.oncall import services
from incidents.oncall.selectors import (
    OVERRIDE_SOURCE,
    Shift,
    gaps,
    on_call_at,
    on_call_status,
    schedule_queryset,
    shifts,
)
from opsgov.sla import first_instant_showing

pytestmark = pytest.mark.django_db

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def dt(text: str) -> datetime:
    """An instant written with its offset: "2026-03-29 09:00+02:00"."""
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, text
    return value


def local(value: datetime, zone: str) -> str:
    return value.astimezone(ZoneInfo(zone)).isoformat(" ", "minutes")


def rows(found: Sequence[Shift], zone: str) -> list[tuple[str, str, str, str]]:
    """(who, start, end, source) with local times: what the comments in the tests work out."""
    return [(s.user.username, local(s.start, zone), local(s.end, zone), s.source) for s in found]


def gap_rows(found: Sequence[tuple[datetime, datetime]], zone: str) -> list[tuple[str, str]]:
    return [(local(low, zone), local(high, zone)) for low, high in found]


def hours(found: Sequence[Shift]) -> list[float]:
    return [s.duration / timedelta(hours=1) for s in found]


@pytest.fixture
def people(make_user: Callable[..., User]) -> dict[str, User]:
    return {name: make_user(name) for name in ("alice", "bob", "carol", "dave")}


@pytest.fixture
def make_schedule() -> Callable[..., Schedule]:
    def make(time_zone: str = BERLIN, slug: str = "primary") -> Schedule:
        return services.schedule_create(slug=slug, name=slug.title(), time_zone=time_zone)

    return make


def add_layer(schedule: Schedule, members: Sequence[User], **fields: Any) -> ScheduleLayer:
    fields.setdefault("name", "Primary")
    return services.layer_create(schedule=schedule, members=members, **fields)


def fresh(schedule: Schedule) -> Schedule:
    """The schedule as the pages and the API load it (everything prefetched)."""
    return schedule_queryset().get(pk=schedule.pk)


# --- Weekly -----------------------------------------------------------------------------------


def test_a_weekly_rotation_hands_off_on_mondays_at_nine(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule()
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    add_layer(schedule, [alice, bob, carol], rotation_start=dt("2026-01-05 09:00+01:00"))  # a Monday

    found = shifts(fresh(schedule), dt("2026-01-05 00:00+01:00"), dt("2026-02-02 00:00+01:00"))

    # Nothing before rotation_start; then one week each, Monday 09:00 to Monday 09:00;
    # the fourth week is alice's again, cut at the end of the range.
    assert rows(found, BERLIN) == [
        ("alice", "2026-01-05 09:00+01:00", "2026-01-12 09:00+01:00", "Primary"),
        ("bob", "2026-01-12 09:00+01:00", "2026-01-19 09:00+01:00", "Primary"),
        ("carol", "2026-01-19 09:00+01:00", "2026-01-26 09:00+01:00", "Primary"),
        ("alice", "2026-01-26 09:00+01:00", "2026-02-02 00:00+01:00", "Primary"),
    ]
    assert gap_rows(gaps(fresh(schedule), dt("2026-01-05 00:00+01:00"), dt("2026-01-06 00:00+01:00")), BERLIN) == [
        ("2026-01-05 00:00+01:00", "2026-01-05 09:00+01:00")
    ]


def test_a_weekly_rotation_a_year_later_is_found_without_walking_the_year(
    make_schedule: Callable[..., Schedule],
    people: dict[str, User],
    django_assert_num_queries: Any,
) -> None:
    schedule = make_schedule()
    add_layer(schedule, [people["alice"], people["bob"], people["carol"]], rotation_start=dt("2026-01-05 09:00+01:00"))
    loaded = fresh(schedule)

    # 2027-01-04 is 364 days = 52 weeks after 2026-01-05: shift 52, and 52 mod 3 = 1 -> bob,
    # from Monday 2027-01-04 09:00 to Monday 2027-01-11 09:00.
    with django_assert_num_queries(0):
        found = shifts(loaded, dt("2027-01-06 00:00+01:00"), dt("2027-01-13 00:00+01:00"))
    assert rows(found, BERLIN) == [
        ("bob", "2027-01-06 00:00+01:00", "2027-01-11 09:00+01:00", "Primary"),
        ("carol", "2027-01-11 09:00+01:00", "2027-01-13 00:00+01:00", "Primary"),
    ]


def test_a_weekly_rotation_starting_midweek_has_a_partial_first_shift(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule()
    # Wednesday 12:00: alice until the first handoff (Monday 09:00), then bob a full week.
    add_layer(schedule, [people["alice"], people["bob"]], rotation_start=dt("2026-01-07 12:00+01:00"))

    found = shifts(fresh(schedule), dt("2026-01-07 00:00+01:00"), dt("2026-01-20 00:00+01:00"))

    assert rows(found, BERLIN) == [
        ("alice", "2026-01-07 12:00+01:00", "2026-01-12 09:00+01:00", "Primary"),
        ("bob", "2026-01-12 09:00+01:00", "2026-01-19 09:00+01:00", "Primary"),
        ("alice", "2026-01-19 09:00+01:00", "2026-01-20 00:00+01:00", "Primary"),
    ]


# --- Daily and every N hours --------------------------------------------------------------------


def test_a_daily_rotation_hands_off_every_day_at_the_handoff_time(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule(NEW_YORK)
    add_layer(
        schedule,
        [people["alice"], people["bob"]],
        rotation_kind=RotationKind.DAILY,
        handoff_time=time(8),
        rotation_start=dt("2026-01-01 00:00-05:00"),
    )

    found = shifts(fresh(schedule), dt("2026-01-01 00:00-05:00"), dt("2026-01-03 12:00-05:00"))

    # Partial first shift 00:00-08:00 for alice; then a day each from 08:00.
    assert rows(found, NEW_YORK) == [
        ("alice", "2026-01-01 00:00-05:00", "2026-01-01 08:00-05:00", "Primary"),
        ("bob", "2026-01-01 08:00-05:00", "2026-01-02 08:00-05:00", "Primary"),
        ("alice", "2026-01-02 08:00-05:00", "2026-01-03 08:00-05:00", "Primary"),
        ("bob", "2026-01-03 08:00-05:00", "2026-01-03 12:00-05:00", "Primary"),
    ]


def test_an_hours_rotation_counts_real_hours_from_rotation_start(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule("UTC")
    add_layer(
        schedule,
        [people["alice"], people["bob"], people["carol"]],
        rotation_kind=RotationKind.HOURS,
        rotation_hours=12,
        rotation_start=dt("2026-01-01 06:00+00:00"),
    )

    found = shifts(fresh(schedule), dt("2026-01-02 00:00+00:00"), dt("2026-01-03 00:00+00:00"))

    # 2026-01-02 00:00 is 18 h after the start: shift 1 (18 // 12), bob's, 01-01 18:00 to 01-02 06:00;
    # shift 2 carol 06:00-18:00; shift 3 (3 mod 3 = 0) alice from 18:00.
    assert rows(found, "UTC") == [
        ("bob", "2026-01-02 00:00+00:00", "2026-01-02 06:00+00:00", "Primary"),
        ("carol", "2026-01-02 06:00+00:00", "2026-01-02 18:00+00:00", "Primary"),
        ("alice", "2026-01-02 18:00+00:00", "2026-01-03 00:00+00:00", "Primary"),
    ]


def test_an_hours_rotation_ignores_dst_so_its_local_handoffs_move(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule(BERLIN)
    add_layer(
        schedule,
        [people["alice"], people["bob"]],
        rotation_kind=RotationKind.HOURS,
        rotation_hours=12,
        rotation_start=dt("2026-03-28 20:00+01:00"),  # 19:00 UTC
    )

    found = shifts(fresh(schedule), dt("2026-03-28 20:00+01:00"), dt("2026-03-29 21:00+02:00"))

    # 19:00Z + 12 h = 07:00Z, which is 09:00+02:00 after the jump; then 19:00Z = 21:00+02:00.
    assert rows(found, BERLIN) == [
        ("alice", "2026-03-28 20:00+01:00", "2026-03-29 09:00+02:00", "Primary"),
        ("bob", "2026-03-29 09:00+02:00", "2026-03-29 21:00+02:00", "Primary"),
    ]
    assert hours(found) == [12, 12]


# --- Overrides ----------------------------------------------------------------------------------


def test_an_override_in_the_middle_of_a_shift_splits_it(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule("UTC")
    alice, bob = people["alice"], people["bob"]
    add_layer(schedule, [alice], rotation_start=dt("2026-01-05 09:00+00:00"))
    services.override_create(
        schedule=schedule,
        user=bob,
        starts_at=dt("2026-01-07 12:00+00:00"),
        ends_at=dt("2026-01-08 12:00+00:00"),
        reason="swap",
    )

    found = shifts(fresh(schedule), dt("2026-01-05 09:00+00:00"), dt("2026-01-12 09:00+00:00"))

    # alice's week, with bob's Wednesday noon to Thursday noon taken out of it.
    assert rows(found, "UTC") == [
        ("alice", "2026-01-05 09:00+00:00", "2026-01-07 12:00+00:00", "Primary"),
        ("bob", "2026-01-07 12:00+00:00", "2026-01-08 12:00+00:00", OVERRIDE_SOURCE),
        ("alice", "2026-01-08 12:00+00:00", "2026-01-12 09:00+00:00", "Primary"),
    ]
    assert [s.is_override for s in found] == [False, True, False]


def test_the_latest_created_override_wins_where_overrides_overlap(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule("UTC")
    add_layer(schedule, [people["alice"]], rotation_start=dt("2026-01-05 09:00+00:00"))
    services.override_create(
        schedule=schedule, user=people["bob"], starts_at=dt("2026-01-06 00:00Z"), ends_at=dt("2026-01-06 12:00Z")
    )
    services.override_create(
        schedule=schedule, user=people["carol"], starts_at=dt("2026-01-06 06:00Z"), ends_at=dt("2026-01-06 18:00Z")
    )

    found = shifts(fresh(schedule), dt("2026-01-06 00:00Z"), dt("2026-01-07 00:00Z"))

    # carol's (created later) wins 06:00-18:00; bob keeps 00:00-06:00; alice the rest.
    assert rows(found, "UTC") == [
        ("bob", "2026-01-06 00:00+00:00", "2026-01-06 06:00+00:00", OVERRIDE_SOURCE),
        ("carol", "2026-01-06 06:00+00:00", "2026-01-06 18:00+00:00", OVERRIDE_SOURCE),
        ("alice", "2026-01-06 18:00+00:00", "2026-01-07 00:00+00:00", "Primary"),
    ]


# --- Priority and restrictions --------------------------------------------------------------------


def test_a_higher_priority_business_hours_layer_wins_over_the_primary_layer(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule(BERLIN)
    add_layer(schedule, [people["alice"], people["bob"]], rotation_start=dt("2026-01-05 09:00+01:00"))
    add_layer(
        schedule,
        [people["carol"], people["dave"]],
        name="Business hours",
        priority=2,
        rotation_kind=RotationKind.DAILY,
        handoff_time=time(9),
        rotation_start=dt("2026-01-05 09:00+01:00"),
        restrict_weekdays=[0, 1, 2, 3, 4],
        restrict_start=time(9),
        restrict_end=time(17),
    )

    # Friday 2026-01-09 to Monday 2026-01-12 00:00. Primary: alice's week (Mon 01-05 09:00 to
    # Mon 01-12 09:00). Business hours: daily from Mon 01-05, so Friday is shift 4 -> carol
    # (4 mod 2 = 0), only 09:00-17:00 and never at the weekend.
    found = shifts(fresh(schedule), dt("2026-01-09 00:00+01:00"), dt("2026-01-12 00:00+01:00"))

    assert rows(found, BERLIN) == [
        ("alice", "2026-01-09 00:00+01:00", "2026-01-09 09:00+01:00", "Primary"),
        ("carol", "2026-01-09 09:00+01:00", "2026-01-09 17:00+01:00", "Business hours"),
        ("alice", "2026-01-09 17:00+01:00", "2026-01-12 00:00+01:00", "Primary"),
    ]


def test_the_higher_priority_wins_whatever_the_creation_order(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule("UTC")
    add_layer(schedule, [people["bob"]], name="Secondary", priority=5, rotation_start=dt("2026-01-05 09:00Z"))
    add_layer(schedule, [people["alice"]], name="Backup", priority=1, rotation_start=dt("2026-01-01 00:00Z"))

    # Secondary (priority 5) starts 01-05 09:00; before that only Backup covers.
    found = shifts(fresh(schedule), dt("2026-01-05 00:00Z"), dt("2026-01-06 00:00Z"))

    assert rows(found, "UTC") == [
        ("alice", "2026-01-05 00:00+00:00", "2026-01-05 09:00+00:00", "Backup"),
        ("bob", "2026-01-05 09:00+00:00", "2026-01-06 00:00+00:00", "Secondary"),
    ]


# --- DST ------------------------------------------------------------------------------------------


def test_daily_shifts_across_berlins_spring_forward_are_23_hours(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule(BERLIN)
    add_layer(
        schedule,
        [people["alice"], people["bob"]],
        rotation_kind=RotationKind.DAILY,
        rotation_start=dt("2026-03-27 09:00+01:00"),
    )

    found = shifts(fresh(schedule), dt("2026-03-27 09:00+01:00"), dt("2026-03-30 09:00+02:00"))

    # The handoff stays at 09:00 local; Saturday 09:00+01:00 to Sunday 09:00+02:00 is 23 real hours.
    assert rows(found, BERLIN) == [
        ("alice", "2026-03-27 09:00+01:00", "2026-03-28 09:00+01:00", "Primary"),
        ("bob", "2026-03-28 09:00+01:00", "2026-03-29 09:00+02:00", "Primary"),
        ("alice", "2026-03-29 09:00+02:00", "2026-03-30 09:00+02:00", "Primary"),
    ]
    assert hours(found) == [24, 23, 24]


def test_daily_shifts_across_berlins_fall_back_are_25_hours(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule(BERLIN)
    add_layer(
        schedule,
        [people["alice"], people["bob"]],
        rotation_kind=RotationKind.DAILY,
        rotation_start=dt("2026-10-23 09:00+02:00"),
    )

    found = shifts(fresh(schedule), dt("2026-10-24 00:00+02:00"), dt("2026-10-26 09:00+01:00"))

    # Shift 1 (bob) Saturday 09:00+02:00 to Sunday 09:00+01:00: 25 real hours.
    assert rows(found, BERLIN) == [
        ("alice", "2026-10-24 00:00+02:00", "2026-10-24 09:00+02:00", "Primary"),
        ("bob", "2026-10-24 09:00+02:00", "2026-10-25 09:00+01:00", "Primary"),
        ("alice", "2026-10-25 09:00+01:00", "2026-10-26 09:00+01:00", "Primary"),
    ]
    assert hours(found)[1:] == [25, 24]


def test_a_handoff_in_the_skipped_or_repeated_hour_happens_at_the_first_instant_showing_it(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule(BERLIN)
    add_layer(
        schedule,
        [people["alice"], people["bob"]],
        rotation_kind=RotationKind.DAILY,
        handoff_time=time(2, 30),
        rotation_start=dt("2026-03-28 02:30+01:00"),
    )
    loaded = fresh(schedule)

    # Spring: 02:30 does not exist on 03-29; the handoff is at the jump, 03:00+02:00 (01:00Z).
    spring = shifts(loaded, dt("2026-03-28 02:30+01:00"), dt("2026-03-30 02:30+02:00"))
    assert rows(spring, BERLIN) == [
        ("alice", "2026-03-28 02:30+01:00", "2026-03-29 03:00+02:00", "Primary"),
        ("bob", "2026-03-29 03:00+02:00", "2026-03-30 02:30+02:00", "Primary"),
    ]
    assert hours(spring) == [23.5, 23.5]

    # Autumn: 02:30 happens twice on 10-25; the handoff is at the first, 02:30+02:00 (00:30Z).
    # 2026-10-24 is 210 days after 03-28: shift 210, alice's (even).
    autumn = shifts(loaded, dt("2026-10-24 02:30+02:00"), dt("2026-10-26 02:30+01:00"))
    assert rows(autumn, BERLIN) == [
        ("alice", "2026-10-24 02:30+02:00", "2026-10-25 02:30+02:00", "Primary"),
        ("bob", "2026-10-25 02:30+02:00", "2026-10-26 02:30+01:00", "Primary"),
    ]
    assert hours(autumn) == [24, 25]


def test_a_weekly_shift_across_the_spring_change_is_167_hours(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule(BERLIN)
    add_layer(schedule, [people["alice"], people["bob"]], rotation_start=dt("2026-03-16 09:00+01:00"))

    found = shifts(fresh(schedule), dt("2026-03-23 09:00+01:00"), dt("2026-03-30 09:00+02:00"))

    assert rows(found, BERLIN) == [("bob", "2026-03-23 09:00+01:00", "2026-03-30 09:00+02:00", "Primary")]
    assert hours(found) == [167]


def test_daily_shifts_in_new_york_follow_its_own_dst_dates(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule(NEW_YORK)
    add_layer(
        schedule,
        [people["alice"], people["bob"]],
        rotation_kind=RotationKind.DAILY,
        handoff_time=time(8),
        rotation_start=dt("2026-03-06 08:00-05:00"),
    )
    loaded = fresh(schedule)

    # 2026-03-08: 08:00-05:00 Saturday to 08:00-04:00 Sunday is 23 hours (bob, shift 1).
    spring = shifts(loaded, dt("2026-03-07 08:00-05:00"), dt("2026-03-09 08:00-04:00"))
    assert rows(spring, NEW_YORK) == [
        ("bob", "2026-03-07 08:00-05:00", "2026-03-08 08:00-04:00", "Primary"),
        ("alice", "2026-03-08 08:00-04:00", "2026-03-09 08:00-04:00", "Primary"),
    ]
    assert hours(spring) == [23, 24]

    # 2026-11-01: Saturday 10-31 08:00-04:00 to Sunday 08:00-05:00 is 25 hours. 10-31 is 239 days
    # after 03-06: shift 239, bob's (odd). Berlin changed a week earlier: no effect here.
    autumn = shifts(loaded, dt("2026-10-31 08:00-04:00"), dt("2026-11-02 08:00-05:00"))
    assert rows(autumn, NEW_YORK) == [
        ("bob", "2026-10-31 08:00-04:00", "2026-11-01 08:00-05:00", "Primary"),
        ("alice", "2026-11-01 08:00-05:00", "2026-11-02 08:00-05:00", "Primary"),
    ]
    assert hours(autumn) == [25, 24]


# --- Gaps -----------------------------------------------------------------------------------------


def test_an_empty_schedule_is_one_big_gap(make_schedule: Callable[..., Schedule]) -> None:
    schedule = make_schedule()
    start, end = dt("2026-01-01 00:00+01:00"), dt("2026-01-15 00:00+01:00")

    assert shifts(fresh(schedule), start, end) == []
    assert gaps(fresh(schedule), start, end) == [(start, end)]
    assert on_call_at(fresh(schedule), start) is None


def test_a_layer_that_ends_leaves_a_gap_from_its_end(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule("UTC")
    add_layer(
        schedule,
        [people["alice"], people["bob"]],
        rotation_kind=RotationKind.DAILY,
        rotation_start=dt("2026-01-01 09:00Z"),
        ends_at=dt("2026-01-02 15:00Z"),
    )
    loaded = fresh(schedule)
    start, end = dt("2026-01-01 00:00Z"), dt("2026-01-03 00:00Z")

    assert rows(shifts(loaded, start, end), "UTC") == [
        ("alice", "2026-01-01 09:00+00:00", "2026-01-02 09:00+00:00", "Primary"),
        ("bob", "2026-01-02 09:00+00:00", "2026-01-02 15:00+00:00", "Primary"),
    ]
    assert gap_rows(gaps(loaded, start, end), "UTC") == [
        ("2026-01-01 00:00+00:00", "2026-01-01 09:00+00:00"),
        ("2026-01-02 15:00+00:00", "2026-01-03 00:00+00:00"),
    ]
    assert on_call_at(loaded, dt("2026-01-02 14:59Z")) == people["bob"]
    assert on_call_at(loaded, dt("2026-01-02 15:00Z")) is None


def test_a_daytime_restriction_leaves_the_nights_uncovered_also_on_the_dst_night(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule(BERLIN)
    add_layer(
        schedule,
        [people["alice"]],
        rotation_kind=RotationKind.DAILY,
        rotation_start=dt("2026-03-01 09:00+01:00"),
        restrict_start=time(8),
        restrict_end=time(20),
    )
    loaded = fresh(schedule)

    found = shifts(loaded, dt("2026-03-28 00:00+01:00"), dt("2026-03-30 00:00+02:00"))

    # 08:00-20:00 local each day: still 12 hours on the DST Sunday (the jump is at night);
    # the night in between is 20:00+01:00 to 08:00+02:00, 11 real hours.
    assert rows(found, BERLIN) == [
        ("alice", "2026-03-28 08:00+01:00", "2026-03-28 20:00+01:00", "Primary"),
        ("alice", "2026-03-29 08:00+02:00", "2026-03-29 20:00+02:00", "Primary"),
    ]
    assert gap_rows(gaps(loaded, dt("2026-03-28 00:00+01:00"), dt("2026-03-30 00:00+02:00")), BERLIN) == [
        ("2026-03-28 00:00+01:00", "2026-03-28 08:00+01:00"),
        ("2026-03-28 20:00+01:00", "2026-03-29 08:00+02:00"),
        ("2026-03-29 20:00+02:00", "2026-03-30 00:00+02:00"),
    ]


def test_an_overnight_restriction_belongs_to_the_weekday_it_starts_on(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule(BERLIN)
    add_layer(
        schedule,
        [people["alice"], people["bob"]],
        name="Nights",
        rotation_start=dt("2026-03-02 09:00+01:00"),
        restrict_weekdays=[5],  # Saturday night only
        restrict_start=time(22),
        restrict_end=time(6),
    )

    found = shifts(fresh(schedule), dt("2026-03-27 00:00+01:00"), dt("2026-03-31 00:00+02:00"))

    # Saturday 03-28 22:00+01:00 (21:00Z) to Sunday 06:00+02:00 (04:00Z): 7 real hours, in
    # week 3 of the rotation (from Monday 03-23), bob's turn (3 mod 2 = 1).
    assert rows(found, BERLIN) == [("bob", "2026-03-28 22:00+01:00", "2026-03-29 06:00+02:00", "Nights")]
    assert hours(found) == [7]


# --- Now, next, until -------------------------------------------------------------------------------


def test_the_status_says_who_is_on_until_when_and_who_is_next(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule("UTC")
    add_layer(schedule, [people["alice"], people["bob"]], rotation_start=dt("2026-01-05 09:00Z"))
    services.override_create(
        schedule=schedule, user=people["alice"], starts_at=dt("2026-01-12 09:00Z"), ends_at=dt("2026-01-13 09:00Z")
    )

    status = on_call_status(fresh(schedule), dt("2026-01-10 12:00Z"))

    # alice's week runs into her override on bob's first day: she is on call until 01-13 09:00.
    assert status.user == people["alice"]
    assert status.source == "Primary"
    assert status.until == dt("2026-01-13 09:00Z")
    assert (status.next_user, status.next_start) == (people["bob"], dt("2026-01-13 09:00Z"))


def test_the_status_in_a_gap_says_when_the_gap_ends(
    make_schedule: Callable[..., Schedule], people: dict[str, User]
) -> None:
    schedule = make_schedule("UTC")
    add_layer(schedule, [people["carol"]], rotation_start=dt("2026-02-01 09:00Z"))

    status = on_call_status(fresh(schedule), dt("2026-01-20 00:00Z"))
    assert (status.user, status.until) == (None, dt("2026-02-01 09:00Z"))
    # carol is the only member of a layer without end: she stays on call past the horizon.
    assert status.next_user == people["carol"]
    later = on_call_status(fresh(schedule), dt("2026-02-02 00:00Z"))
    assert (later.user, later.until, later.next_user) == (people["carol"], None, None)


# --- Properties ---------------------------------------------------------------------------------------

ZONES = ["UTC", BERLIN, NEW_YORK, "Australia/Lord_Howe"]  # Lord Howe: a 30-minute DST shift
BASE = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def layer_specs(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(RotationKind.values))
    start = BASE + timedelta(minutes=draw(st.integers(0, 400 * 24 * 60)))
    spec: dict[str, Any] = {
        "name": draw(st.sampled_from(["Primary", "Secondary", "Nights"])),
        "priority": draw(st.integers(1, 3)),
        "rotation_kind": kind,
        "rotation_start": start,
        "handoff_time": time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30]))),
        "handoff_weekday": draw(st.integers(0, 6)),
        "members": draw(st.integers(0, 3)),
    }
    if kind == RotationKind.HOURS:
        spec["rotation_hours"] = draw(st.integers(1, 50))
    if draw(st.booleans()):
        spec["ends_at"] = start + timedelta(hours=draw(st.integers(1, 2000)))
    if draw(st.booleans()):
        spec["restrict_weekdays"] = draw(st.lists(st.integers(0, 6), max_size=4))
    if draw(st.booleans()):
        opens, closes = draw(st.tuples(st.integers(0, 47), st.integers(0, 47)).filter(lambda pair: pair[0] != pair[1]))
        spec["restrict_start"] = time(opens // 2, 30 * (opens % 2))
        spec["restrict_end"] = time(closes // 2, 30 * (closes % 2))
    return spec


@st.composite
def override_specs(draw: st.DrawFn) -> tuple[int, datetime, datetime]:
    start = BASE + timedelta(minutes=draw(st.integers(0, 400 * 24 * 60)))
    return draw(st.integers(0, 3)), start, start + timedelta(minutes=draw(st.integers(1, 5 * 24 * 60)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    zone=st.sampled_from(ZONES),
    layers=st.lists(layer_specs(), max_size=3),
    overrides=st.lists(override_specs(), max_size=3),
    window_start=st.integers(0, 400 * 24),
    window_hours=st.integers(1, 24 * 30),
    probes=st.lists(st.floats(0, 1), min_size=1, max_size=8),
)
def test_shifts_never_overlap_and_agree_with_on_call_at(
    people: dict[str, User],
    zone: str,
    layers: list[dict[str, Any]],
    overrides: list[tuple[int, datetime, datetime]],
    window_start: int,
    window_hours: int,
    probes: list[float],
) -> None:
    users = list(people.values())
    with transaction.atomic():
        schedule = services.schedule_create(slug="prop", name="Prop", time_zone=zone)
        for spec in layers:
            members = [users[i] for i in range(spec.pop("members"))]
            services.layer_create(schedule=schedule, members=members, **spec)
        for who, starts_at, ends_at in overrides:
            services.override_create(schedule=schedule, user=users[who], starts_at=starts_at, ends_at=ends_at)
        loaded = fresh(schedule)
        start = BASE + timedelta(hours=window_start)
        end = start + timedelta(hours=window_hours)

        found = shifts(loaded, start, end)
        holes = gaps(loaded, start, end)

        # Within the window, ordered, never overlapping: each shift ends at or before the next starts.
        for shift in found:
            assert start <= shift.start < shift.end <= end
        for before, after in itertools.pairwise(found):
            assert before.end <= after.start
        # Shifts and gaps tile the window exactly.
        pieces = sorted([(s.start, s.end) for s in found] + holes)
        assert pieces[0][0] == start and pieces[-1][1] == end
        for (_, high), (low, _) in itertools.pairwise(pieces):
            assert high == low
        # on_call_at agrees with the shift covering an instant (probes, and every shift's edges).
        instants = [start + (end - start) * p for p in probes if start + (end - start) * p < end]
        instants += [s.start for s in found] + [s.end - timedelta(microseconds=1) for s in found]
        for instant in instants:
            covering = [s for s in found if s.start <= instant < s.end]
            assert len(covering) <= 1
            assert on_call_at(loaded, instant) == (covering[0].user if covering else None)
        transaction.set_rollback(True)


def _naive_member(layer: ScheduleLayer, members: Sequence[User], zone: ZoneInfo, at: datetime) -> User | None:
    """The rotation member at `at` by walking every handoff from rotation_start (the slow, obvious way)."""
    if at < layer.rotation_start or (layer.ends_at is not None and at >= layer.ends_at):
        return None
    number = 0
    if layer.rotation_kind == RotationKind.HOURS:
        assert layer.rotation_hours
        boundary = layer.rotation_start + timedelta(hours=layer.rotation_hours)
        while boundary <= at:
            number += 1
            boundary += timedelta(hours=layer.rotation_hours)
    else:
        day = layer.rotation_start.astimezone(zone).date()
        while True:
            handoff = first_instant_showing(datetime.combine(day, layer.handoff_time), zone)
            is_handoff_day = layer.rotation_kind == RotationKind.DAILY or day.weekday() == layer.handoff_weekday
            if is_handoff_day and handoff > layer.rotation_start:
                if handoff > at:
                    break
                number += 1
            day += timedelta(days=1)
    return members[number % len(members)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=layer_specs(), offset_hours=st.floats(0, 24 * 120))
def test_jumping_to_the_window_gives_the_member_a_walk_from_rotation_start_gives(
    people: dict[str, User], spec: dict[str, Any], offset_hours: float
) -> None:
    spec.update(members=3, restrict_weekdays=[], restrict_start=None, restrict_end=None)
    users = list(people.values())[:3]
    with transaction.atomic():
        schedule = services.schedule_create(slug="walk", name="Walk", time_zone=BERLIN)
        spec.pop("members")
        layer = services.layer_create(schedule=schedule, members=users, **spec)
        at = spec["rotation_start"] + timedelta(hours=offset_hours)
        expected = _naive_member(layer, users, ZoneInfo(BERLIN), at)
        assert on_call_at(fresh(schedule), at) == expected
        transaction.set_rollback(True)
