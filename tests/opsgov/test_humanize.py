"""opsgov.humanize.ago: one "... ago" for the dashboard's pages and the gates' evidence text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opsgov.humanize import ago

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before", "text"),
    [
        (timedelta(seconds=59), "just now"),
        (timedelta(seconds=-30), "just now"),  # a clock slightly ahead
        (timedelta(minutes=1), "1 minute ago"),
        (timedelta(minutes=59, seconds=59), "59 minutes ago"),
        (timedelta(hours=2, minutes=30), "2 hours ago"),
        (timedelta(days=9), "9 days ago"),
    ],
)
def test_plain_text_counts_up_to_days_with_ordinary_spaces(before: timedelta, text: str) -> None:
    assert ago(NOW - before, NOW) == text


@pytest.mark.parametrize(
    ("before", "text"),
    [
        (timedelta(seconds=59), "just now"),
        (timedelta(minutes=59), "59\xa0minutes ago"),
        (timedelta(days=9), "1\xa0week ago"),
    ],
)
def test_on_a_page_number_and_unit_never_wrap_and_weeks_count(before: timedelta, text: str) -> None:
    assert ago(NOW - before, NOW, on_page=True) == text
