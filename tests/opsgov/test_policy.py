from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from opsgov.policy import Policy, PolicyError, Span, Unit, load_policy, parse_policy


def test_defaults_are_the_seed_tables() -> None:
    policy = Policy()
    assert [str(level.response_target) for level in policy.incidents.severities.values()] == [
        "15 minutes",
        "1 hour",
        "4 hours",
        "1 business day",
    ]
    assert policy.incidents.failure_severities == ["SEV-1", "SEV-2"]
    assert str(policy.incidents.review_due) == "5 business days"
    tiers = policy.support.tiers
    assert [(str(t.response), str(t.resolution)) for t in tiers.values()] == [
        ("15 minutes", "4 hours"),
        ("1 hour", "24 hours"),
        ("4 hours", "1 week"),
        ("1 business day", "2 weeks"),
    ]
    assert str(policy.maintenance.activities["security_patches"].due_within) == "48 hours"
    assert str(policy.maintenance.activities["database_maintenance"].every) == "1 week"
    backups = policy.backups.data_types
    assert (str(backups["database"].frequency), str(backups["database"].retention)) == ("1 hour", "90 days")
    assert backups["configs"].frequency == "per change" and backups["configs"].location == "version control"
    assert str(backups["user_data"].retention) == "7 years"
    targets = policy.targets
    assert (targets.availability_percent, str(targets.mtta), str(targets.mttr), str(targets.mtbf)) == (
        99.9,
        "15 minutes",
        "4 hours",
        "720 hours",
    )
    assert (targets.support_satisfaction, targets.backup_success_percent, targets.patch_compliance_percent) == (
        4.5,
        100,
        95,
    )


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [
        ("15 minutes", 15, Unit.MINUTES),
        ("1 business day", 1, Unit.BUSINESS_DAYS),
        ("3 Months", 3, Unit.MONTHS),
        ("1 hour", 1, Unit.HOURS),
        ("8 business hours", 8, Unit.BUSINESS_HOURS),
    ],
)
def test_spans_parse_from_text(text: str, amount: int, unit: Unit) -> None:
    parsed = Span.parse(text)
    assert (parsed.amount, parsed.unit) == (amount, unit)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"incidents": {"failure_severities": ["SEV-9"]}},
            "incidents.failure_severities: item 0: unknown severity 'SEV-9'",
        ),
        ({"targets": {"mtta": "-5 minutes"}}, "targets.mtta: '-5 minutes': a duration must be positive"),
        (
            {"targets": {"availability_percent": 100.5}},
            "targets.availability_percent: Input should be less than or equal to 100",
        ),
        (
            {"business_calendar": {"time_zone": "Mars/Olympus"}},
            "business_calendar.time_zone: unknown time zone 'Mars/Olympus'",
        ),
        (
            {"business_calendar": {"holiday_country": "XX"}},
            "business_calendar.holiday_country: unknown country code 'XX'",
        ),
        (
            {"business_calendar": {"working_hours": {"monday": ["17:00-09:00"]}}},
            "business_calendar.working_hours.monday.0: a working period must start before it ends",
        ),
        (
            {"incidents": {"severities": {"SEV-X": {"description": "x", "response_target": "1 hour"}}}},
            "incidents.severities.SEV-X.[key]: String should match pattern",
        ),
        ({"support": {"tierz": {}}}, "support.tierz: Extra inputs are not permitted"),
        ({"targets": {"mttr": "soon"}}, "targets.mttr: 'soon' is not a duration"),
    ],
)
def test_bad_policies_name_the_field_and_reason(data: dict, expected: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    assert any(line.startswith(expected) for line in caught.value.errors), caught.value.errors


def test_a_toml_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[targets]\nmtta = "10 minutes"\n[business_calendar]\ntime_zone = "Europe/Berlin"\n')
    policy = load_policy(path)
    assert str(policy.targets.mtta) == "10 minutes"
    assert policy.business_calendar.time_zone == "Europe/Berlin"
    assert str(policy.targets.mttr) == "4 hours"


def test_invalid_toml_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[targets]\nmtta = \n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert "line 2" in caught.value.errors[0]


def test_the_effective_policy_round_trips_through_its_own_dump() -> None:
    policy = Policy()
    assert parse_policy(policy.model_dump(mode="json", exclude_none=True)) == policy


def test_a_fixed_span_is_real_time_across_a_dst_change() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 3, 28, 12, 0, tzinfo=berlin)  # the day before spring-forward
    after = Span.parse("1 day").after(start)
    assert after.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=24)
    assert (after.hour, after.utcoffset()) == (13, timedelta(hours=2))
    month_later = Span.parse("1 month").after(start)
    assert (month_later.day, month_later.hour) == (28, 12)  # calendar arithmetic keeps the wall time
