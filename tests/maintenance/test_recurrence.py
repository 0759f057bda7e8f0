"""Windows and freezes across DST and midnight: every expected instant below is computed by hand.

Europe/Berlin: CET (UTC+1) until 2026-03-29 02:00 local, when clocks jump to 03:00 CEST (UTC+2);
CEST until 2026-10-25 03:00 local, when clocks fall back to 02:00 CET.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from maintenance import recurrence
from maintenance.models import FreezePeriod, MaintenanceWindow

BERLIN = recurrence.zone("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def window(**kwargs: object) -> MaintenanceWindow:
    defaults: dict[str, object] = {
        "name": "w",
        "timezone": "Europe/Berlin",
        "duration": timedelta(hours=2),
        "first_start": utc(2026, 3, 1, 1, 30),  # Sunday 02:30 CET
    }
    defaults.update(kwargs)
    return MaintenanceWindow(**defaults)


def test_a_weekly_rrule_keeps_its_local_time_across_the_spring_change() -> None:
    w = window(kind="rrule", rrule="FREQ=WEEKLY;BYDAY=SU")
    starts = [s for s, _ in w.occurrences(utc(2026, 3, 20), utc(2026, 4, 6))]
    # 22 March 02:30 CET = 01:30 UTC; 29 March 02:30 does not exist: RFC 5545 reads it with the offset
    # before the gap (UTC+1), so 01:30 UTC = 03:30 CEST; 5 April 02:30 CEST = 00:30 UTC.
    assert starts == [utc(2026, 3, 22, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 4, 5, 0, 30)]


def test_a_cron_window_follows_cron_across_the_spring_change() -> None:
    w = window(kind="cron", cron="30 2 * * 0")
    starts = [s for s, _ in w.occurrences(utc(2026, 3, 20), utc(2026, 4, 6))]
    # cron runs a skipped time at the end of the gap: 29 March 03:00 CEST = 01:00 UTC.
    assert starts == [utc(2026, 3, 22, 1, 30), utc(2026, 3, 29, 1, 0), utc(2026, 4, 5, 0, 30)]


def test_a_window_across_the_autumn_change_lasts_its_real_duration() -> None:
    w = window(kind="rrule", rrule="FREQ=WEEKLY;BYDAY=SU", first_start=utc(2026, 10, 18, 0, 0))  # 02:00 CEST
    occurrences = w.occurrences(utc(2026, 10, 24), utc(2026, 10, 27))
    # 25 October 02:00 happens twice: the first (CEST, UTC+2) = 00:00 UTC; two real hours later.
    assert occurrences == [(utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 2, 0))]


def test_an_occurrence_that_started_before_the_range_still_overlaps_it() -> None:
    w = window(kind="rrule", rrule="FREQ=DAILY", first_start=utc(2026, 1, 1, 22, 0), timezone="UTC")
    assert w.occurrences(utc(2026, 1, 5, 23, 0), utc(2026, 1, 5, 23, 30)) == [
        (utc(2026, 1, 5, 22, 0), utc(2026, 1, 6, 0, 0))
    ]


def test_the_fixture_freeze_crosses_the_weekend_and_the_spring_change() -> None:
    data = json.loads((Path(__file__).parent / "fixtures" / "freeze-period.json").read_text())
    freeze = FreezePeriod(
        name="weekend",
        kind="cron",
        freeze_start=data["freeze_start"],
        freeze_end=data["freeze_end"],
        timezone=data["cron_timezone"],
    )
    freeze.clean()
    # Friday 27 March 18:00 CET = 17:00 UTC until Monday 30 March 06:00 CEST = 04:00 UTC.
    assert freeze.occurrences(utc(2026, 3, 28, 12), utc(2026, 3, 28, 13)) == [
        (utc(2026, 3, 27, 17, 0), utc(2026, 3, 30, 4, 0))
    ]
    # Monday 06:00 local is the end: 05:59 CEST is inside, 06:00 is not.
    assert freeze.occurrences(utc(2026, 3, 30, 3, 59), utc(2026, 3, 30, 4, 0))
    assert not freeze.occurrences(utc(2026, 3, 30, 4, 0), utc(2026, 3, 30, 4, 1))
    # Midnight Saturday to Sunday is inside.
    assert freeze.occurrences(utc(2026, 3, 28, 23, 0), utc(2026, 3, 28, 23, 1))


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"kind": "rrule", "rrule": "FREQ=SOMETIMES"}, "rrule", "does not parse"),
        ({"kind": "rrule", "rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "rrule", "never occurs"),
        ({"kind": "rrule", "rrule": "FREQ=DAILY;UNTIL=20200101T000000"}, "rrule", "never occurs"),
        ({"kind": "cron", "cron": "0 0 30 2 *"}, "cron", "Bad day-of-month"),
        ({"kind": "cron", "cron": "61 * * * *"}, "cron", "does not parse"),
        ({"kind": "rrule", "rrule": "FREQ=WEEKLY", "timezone": "Mars/Olympus"}, "timezone", "not a time zone"),
    ],
)
def test_a_rule_that_does_not_parse_or_never_occurs_is_refused_with_the_reason(
    fields: dict[str, str], field: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        window(**fields).clean()
    assert field in caught.value.message_dict
    assert reason in " ".join(caught.value.message_dict[field])
