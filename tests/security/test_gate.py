"""The step-5 gate: a critical finding past SLA turns it red until a rescan fixes it or a second person accepts it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opsgov.models import GateStatus
from opsgov.registry import gates
from opsgov.roles import SECURITY_LEAD
from security import alerts, services
from security.models import Finding
from tests.factories import ServiceFactory

from .support import trivy

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def _rows(result: Any) -> dict[str, Any]:
    return {row.key: row for row in result.evidence}


def _scan(vulns: list[tuple[str, str, str, str]], now: datetime) -> None:
    services.import_scan(report=trivy("app", vulns), asset_name="img", now=now)


@pytest.fixture
def service() -> Any:
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    services.resolve_asset(name="img", create=True, service=service)
    return service


def test_critical_past_sla_fails_until_fixed_by_a_rescan(service: Any) -> None:
    gate = gates.get("security_operations")
    xz = ("CVE-2024-3094", "xz", "5.6.0", "CRITICAL")
    _scan([xz], NOW)
    result = gate.evaluate(now=NOW + timedelta(hours=47))
    assert _rows(result)["vuln-sla:checkout"].status == GateStatus.PASS
    assert _rows(result)["scan:checkout"].status == GateStatus.PASS
    assert result.status == GateStatus.NO_EVIDENCE  # the untracked criteria keep it from passing
    _scan([xz], NOW + timedelta(hours=48, minutes=30))  # still there at the next scan
    result = gate.evaluate(now=NOW + timedelta(hours=49))
    assert result.status == GateStatus.FAIL
    row = _rows(result)["vuln-sla:checkout"]
    assert (row.status, row.label) == (GateStatus.FAIL, "Checkout: 1 critical/high finding past SLA")
    assert row.url == "/security/findings/?service=checkout&overdue=true"
    _scan([], NOW + timedelta(hours=50))
    assert _rows(gate.evaluate(now=NOW + timedelta(hours=51)))["vuln-sla:checkout"].status == GateStatus.PASS


def test_accepted_by_a_second_security_lead_leaves_the_red(service: Any, make_user: Any) -> None:
    gate = gates.get("security_operations")
    _scan([("CVE-2024-3094", "xz", "5.6.0", "CRITICAL")], NOW)
    alice, bob = make_user("alice", SECURITY_LEAD), make_user("bob", SECURITY_LEAD)
    acceptance = services.acceptance_request(
        finding=Finding.objects.get(),
        reason="r",
        compensating_control="c",
        approver=bob,
        expires_at=NOW + timedelta(days=10),
        requested_by=alice,
        now=NOW,
    )
    later = NOW + timedelta(days=3)
    assert gate.evaluate(now=later).status == GateStatus.FAIL  # pending: not yet
    services.acceptance_approve(acceptance=acceptance, actor=bob, now=NOW + timedelta(hours=1))
    assert _rows(gate.evaluate(now=later))["vuln-sla:checkout"].status == GateStatus.PASS
    # Scans go stale after 7 days (and the acceptance expires after 10): red again.
    result = gate.evaluate(now=NOW + timedelta(days=11))
    assert _rows(result)["scan:checkout"].status == GateStatus.FAIL
    assert _rows(result)["vuln-sla:checkout"].status == GateStatus.FAIL


def test_a_service_without_an_asset_fails_the_scan_check() -> None:
    ServiceFactory.create(slug="lonely", name="Lonely")
    result = gates.get("security_operations").evaluate(now=NOW)
    assert _rows(result)["scan:lonely"].status == GateStatus.FAIL
    assert result.status == GateStatus.FAIL


def test_alerts_not_acknowledged_in_time_fail(service: Any) -> None:
    gate = gates.get("security_operations")
    _scan([], NOW)
    (alert,) = alerts.receive(body={"title": "t", "severity": "high"}, now=NOW)
    assert _rows(gate.evaluate(now=NOW + timedelta(hours=3)))["alert-triage"].status == GateStatus.PASS
    assert _rows(gate.evaluate(now=NOW + timedelta(hours=5)))["alert-triage"].status == GateStatus.FAIL
    alerts.acknowledge(alert=alert, actor=None, now=NOW + timedelta(hours=5))  # late: still counts against
    row = _rows(gate.evaluate(now=NOW + timedelta(hours=6)))["alert-triage"]
    assert (row.status, row.label) == (GateStatus.FAIL, "1 security alert not acknowledged within 4 hours")
    assert _rows(gate.evaluate(now=NOW + timedelta(days=31)))["alert-triage"].status == GateStatus.PASS
