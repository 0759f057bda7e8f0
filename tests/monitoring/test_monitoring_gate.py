"""The gate of step 1, "Monitoring and alerting active", on fixtures: each state, evidence keyed per service."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import User

from monitoring.catalog.services import import_rule_files
from monitoring.gates import MonitoringGate
from monitoring.models import SLO
from opsgov.models import GateStatus, Lifecycle, Service
from opsgov.registry import on_call

from ..factories import ServiceFactory, UserFactory
from ..incidents.test_gates import covered_policy
from .catalog_helpers import make_runbook

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def rules(service: Service, *, runbook_url: str | None) -> None:
    annotations = f"\n        annotations:\n          runbook_url: {runbook_url}" if runbook_url else ""
    text = f"""groups:
  - name: {service.slug}
    rules:
      - alert: {service.slug.title()}Down
        expr: up{{job="{service.slug}"}} == 0
        for: 5m
        labels:
          severity: critical
          service: {service.slug}{annotations}
"""
    import_rule_files(files=[(f"{service.slug}.yml", text)])


def fresh_slo(service: Service, *, age: timedelta = timedelta(minutes=3)) -> SLO:
    return SLO.objects.create(
        service=service, name="Availability", objective_percent=Decimal("99.9"), last_sli_at=NOW - age
    )


def monitored(service: Service) -> None:
    """Everything the gate asks of a service."""
    fresh_slo(service)
    rules(service, runbook_url="https://runbooks.example.com/x")
    covered_policy(service, _person())


def _person() -> User:
    return UserFactory.create()


def by_key(result) -> dict[str, tuple[str, str]]:
    return {row.key: (row.status, row.url) for row in result.evidence}


def test_no_active_service_is_no_evidence() -> None:
    ServiceFactory.create(lifecycle=Lifecycle.DEPRECATED)
    result = MonitoringGate().evaluate(now=NOW)
    assert (result.status, result.reason) == (GateStatus.NO_EVIDENCE, "No evidence: there are no active services.")


def test_a_service_with_everything_in_place_passes() -> None:
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    monitored(service)
    result = MonitoringGate().evaluate(now=NOW)
    assert result.status == GateStatus.PASS
    assert result.reason == "All 1 active services have fresh SLOs, runbook-backed alert rules and on-call cover."
    assert {key: status for key, (status, _) in by_key(result).items()} == {
        "slo:checkout": GateStatus.PASS,
        "alert-rules:checkout": GateStatus.PASS,
        "on-call:checkout": GateStatus.PASS,
    }


def test_missing_and_stale_slos_fail_with_links_to_the_slo_list() -> None:
    none, stale, never = (ServiceFactory.create(slug=slug) for slug in ("none", "stale", "never"))
    for service in (none, stale, never):
        rules(service, runbook_url="https://runbooks.example.com/x")
        covered_policy(service, _person())
    fresh_slo(stale, age=timedelta(hours=1, minutes=1))  # the policy allows 1 hour
    SLO.objects.create(service=never, name="Latency", objective_percent=Decimal("99"))
    result = MonitoringGate().evaluate(now=NOW)
    assert result.status == GateStatus.FAIL
    rows = {row.key: row for row in result.evidence}
    assert rows["slo:none"].status == GateStatus.FAIL and rows["slo:none"].url == "/monitoring/slos/?service=none"
    assert rows["slo:stale"].detail.startswith("Newest SLI data 1 hour ago.")
    assert rows["slo:never"].detail.startswith("No SLI data ever received.")
    assert result.reason == "1 service without an SLO; 2 services with stale SLI data."


def test_rules_without_runbooks_fail_and_overdue_runbook_reviews_are_at_risk() -> None:
    service = ServiceFactory.create(slug="auth", name="Auth")
    fresh_slo(service)
    covered_policy(service, _person())
    rules(service, runbook_url=None)
    result = MonitoringGate().evaluate(now=NOW)
    keys = by_key(result)
    assert keys["alert-rules:auth"][0] == GateStatus.FAIL
    assert keys["rule-runbook:auth:AuthDown"][0] == GateStatus.FAIL
    assert result.reason == "1 service without a runbook-carrying alert rule; 1 alert rule without a runbook."

    rules(service, runbook_url="https://runbooks.example.com/auth")
    make_runbook("auth-outage", title="Auth outage", services=[service], reviewed=date(2026, 1, 2))  # 6 months: July
    result = MonitoringGate().evaluate(now=NOW)
    assert result.status == GateStatus.AT_RISK
    assert by_key(result)["runbook-review:auth:Auth outage"][0] == GateStatus.AT_RISK


def test_nobody_on_call_now_fails() -> None:
    service = ServiceFactory.create(slug="search", name="Search")
    fresh_slo(service)
    rules(service, runbook_url="https://runbooks.example.com/x")
    result = MonitoringGate().evaluate(now=NOW)
    assert by_key(result)["on-call:search"][0] == GateStatus.FAIL
    assert result.reason == "1 service with nobody on call now."
    assert on_call.responders(service_ids=[service.pk], now=NOW) == {service.pk: []}
