"""Live evidence monitoring publishes for controls and other areas' gates (opsgov.evidence_providers)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from opsgov.evidence_providers import Freshness, providers

from .catalog_helpers import make_runbook

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def test_a_named_runbook_is_current_while_its_review_is_not_overdue() -> None:
    make_runbook("security-incident", title="Security incident", reviewed=date(2026, 5, 1))
    make_runbook("database-failover", reviewed=date(2026, 5, 30))  # newer, but not the one asked for

    reading = providers.read(key="monitoring.runbook", scope="security-incident", now=NOW)

    assert reading.freshness == Freshness.CURRENT
    assert reading.record is not None and reading.record.label.startswith("Runbook Security incident reviewed")
    assert reading.record.recorded_at == datetime(2026, 5, 1, tzinfo=UTC)
    assert reading.record.url.endswith("/security-incident/")


def test_a_named_runbook_whose_review_is_overdue_is_stale_and_a_missing_one_is_missing() -> None:
    make_runbook("security-incident", reviewed=date(2025, 1, 2))  # default review period: six months

    assert providers.read(key="monitoring.runbook", scope="security-incident", now=NOW).freshness == Freshness.STALE
    assert providers.read(key="monitoring.runbook", scope="no-such-runbook", now=NOW).freshness == Freshness.MISSING
    assert providers.read(key="monitoring.runbook", scope="", now=NOW).freshness == Freshness.MISSING
