"""Security metrics against hand-computed figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opsgov.registry import MetricValue
from security import alerts, services
from security.metrics import compute_alert_mtta, compute_criticals_past_due, compute_mttr, compute_sla_compliance
from tests.factories import ServiceFactory

from .support import trivy

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db

CRIT = ("CVE-1", "a", "1", "CRITICAL")
HIGH = ("CVE-2", "b", "1", "HIGH")
MED = ("CVE-3", "c", "1", "MEDIUM")


def _by_scope(values: list[MetricValue]) -> dict[str, MetricValue]:
    return {value.scope: value for value in values}


@pytest.fixture
def history() -> None:
    service = ServiceFactory.create(slug="shop")
    services.resolve_asset(name="img", create=True, service=service)
    scan = lambda vulns, at: services.import_scan(report=trivy("t", vulns), asset_name="img", now=at)  # noqa: E731
    scan([CRIT, HIGH, MED], T0)
    # The critical is fixed after 24 h (within 48 h); the high after 10 days (late: its SLA is 7 days).
    scan([HIGH, MED], T0 + timedelta(hours=24))
    scan([MED], T0 + timedelta(days=10))
    # A second critical arrives on day 11 and is still open on day 20 (past its 48 h).
    scan([MED, ("CVE-4", "d", "1", "CRITICAL")], T0 + timedelta(days=11))


def test_sla_compliance(history: None) -> None:
    now = T0 + timedelta(days=20)
    values = _by_scope(compute_sla_compliance(window="30d", now=now))
    # Population: CVE-1 fixed (met), CVE-2 fixed late (missed), CVE-4 open and due on day 13 (missed).
    # CVE-3 (medium) is due on day 30: not yet counted.
    assert values["global"].value == pytest.approx(100 / 3)
    assert values["global"].details == {"met": 1, "missed": 2}
    assert values["service:shop"].sample_size == 3


def test_mttr_by_severity(history: None) -> None:
    values = _by_scope(compute_mttr(window="30d", now=T0 + timedelta(days=20)))
    assert values["severity:critical"].value == 24 * 3600
    assert values["severity:high"].value == 10 * 86400
    assert values["global"].value == (24 * 3600 + 10 * 86400) / 2
    assert values["severity:low"].value is None and values["severity:low"].sample_size == 0


def test_criticals_past_due(history: None) -> None:
    values = _by_scope(compute_criticals_past_due(window="7d", now=T0 + timedelta(days=20)))
    assert (values["global"].value, values["service:shop"].value) == (1.0, 1.0)
    early = _by_scope(compute_criticals_past_due(window="7d", now=T0 + timedelta(days=12)))
    assert early["global"].value == 0.0


def test_alert_mtta() -> None:
    received = alerts.receive(body=[{"title": "a", "severity": "high"}, {"title": "b", "severity": "low"}], now=T0)
    alerts.receive(body={"title": "c", "severity": "low"}, now=T0 + timedelta(hours=1))
    alerts.acknowledge(alert=received[0], actor=None, now=T0 + timedelta(minutes=10))
    alerts.acknowledge(alert=received[1], actor=None, now=T0 + timedelta(minutes=30))
    (value,) = compute_alert_mtta(window="7d", now=T0 + timedelta(days=1))
    assert (value.value, value.sample_size, value.details) == (20 * 60, 2, {"unacknowledged": 1})
