"""Availability (monitoring.metrics) written to MetricSnapshot by compute_metrics: values computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from incidents import services as incident_services
from monitoring.metrics import AVAILABILITY, MAX_SAMPLE_SIZE
from opsgov import services
from opsgov.models import MetricSnapshot, Service, ServiceTier
from opsgov.registry import downtime, metrics
from tests.factories import ServiceFactory

from .support import make_slo, series, tier1_service

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, 20, tzinfo=UTC)
END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def snapshot(scope: str, window: str) -> MetricSnapshot:
    return MetricSnapshot.objects.get(metric="availability", scope=scope, window=window, is_current=True)


def compute() -> None:
    with time_machine.travel(NOW, tick=False):
        services.compute_metrics(keys=["availability"], now=NOW)


def test_availability_is_registered_with_its_target() -> None:
    assert metrics.get("availability") is AVAILABILITY
    assert (AVAILABILITY.unit, AVAILABILITY.comparison, AVAILABILITY.target()) == ("percent", ">", 99.9)
    assert AVAILABILITY.meets_target(99.95) and not AVAILABILITY.meets_target(99.9)


def test_per_service_and_request_weighted_global_availability() -> None:
    # Tier 1 "checkout": 2 days ago 1,000,000 events, 1,000 bad; 10 days ago 1,000,000 with 9,000 bad.
    # Tier 1 "auth": 3 days ago 100,000 events, 500 bad.
    # Tier 2 "search": 1 day ago 10 events, 10 bad (not in the global figure).
    # Tier 1 "billing": no availability SLO. Tier 1 "ledger": an SLO without data.
    checkout, auth, search = tier1_service("checkout"), tier1_service("auth"), ServiceFactory.create(slug="search")
    tier1_service("billing")
    ledger = tier1_service("ledger")
    a = make_slo(checkout, is_availability=True)
    make_slo(checkout, name="Latency", sli_kind="latency", latency_threshold_ms=200)  # not the availability SLO
    b = make_slo(auth, is_availability=True, objective_percent=Decimal("99.5"))
    c = make_slo(search, is_availability=True)
    make_slo(ledger, is_availability=True)
    series(a, END - timedelta(days=2), 1, good=999_000, total=1_000_000, seconds=3600, now=NOW)
    series(a, END - timedelta(days=10), 1, good=991_000, total=1_000_000, seconds=3600, now=NOW)
    series(b, END - timedelta(days=3), 1, good=99_500, total=100_000, seconds=3600, now=NOW)
    series(c, END - timedelta(days=1), 1, good=0, total=10, now=NOW)
    compute()

    # 7 days: checkout 999,000 / 1,000,000 = 99.9 %; auth 99,500 / 100,000 = 99.5 %;
    # global = (999,000 + 99,500) / (1,000,000 + 100,000) = 1,098,500 / 1,100,000 = 99.863636... %
    # (the plain mean of 99.9 and 99.5 would be 99.7: the busy service weighs more).
    week = snapshot("global", "7d")
    assert week.value == pytest.approx(1_098_500 / 1_100_000 * 100)
    assert week.sample_size == 1_100_000
    assert week.details["services"] == [
        {"service": "auth", "good": 99_500, "total": 100_000, "percent": pytest.approx(99.5)},
        {"service": "checkout", "good": 999_000, "total": 1_000_000, "percent": pytest.approx(99.9)},
    ]
    assert week.details["without_data"] == ["billing", "ledger"]
    assert snapshot("service:checkout", "7d").value == pytest.approx(99.9)
    assert snapshot("service:checkout", "7d").details["slo"] == str(a.uuid)
    assert snapshot("service:search", "7d").value == 0.0
    assert snapshot("service:search", "7d").sample_size == 10

    # 30 days: checkout adds the older bucket: 1,990,000 / 2,000,000 = 99.5 %;
    # global = (1,990,000 + 99,500) / 2,100,000 = 99.5 %.
    assert snapshot("service:checkout", "30d").value == pytest.approx(99.5)
    assert snapshot("global", "30d").value == pytest.approx(2_089_500 / 2_100_000 * 100)


def test_without_sli_data_or_a_downtime_lookup_there_is_no_value_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(downtime, "_lookup", None)  # as without the incidents app
    billing = tier1_service("billing")
    ledger = tier1_service("ledger")
    make_slo(ledger, is_availability=True)
    make_slo(billing, is_availability=True, enabled=False, name="Old")  # disabled: not used
    compute()
    for scope, reason in (
        ("service:billing", "no enabled availability SLO"),
        ("service:ledger", "no SLI events in the window"),
        ("global", "no tier-1 service has availability SLI data in the window"),
    ):
        row = snapshot(scope, "30d")
        assert (row.value, row.sample_size, row.details["no_data"]) == (None, 0, reason)
    assert billing.tier == ServiceTier.TIER_1


def test_without_sli_data_availability_falls_back_to_customer_impacting_downtime() -> None:
    billing = tier1_service("billing")
    tier1_service("other")  # no incident at all: 100 %
    end = END  # the metric window ends at the start of the current minute

    def incident(service: Service, start: datetime, hours: float, *, customer_impact: bool = False) -> None:
        created = incident_services.incident_create(
            title="Outage", service=service, severity="SEV-2", triggered_at=start, customer_impact=customer_impact
        )
        incident_services.incident_resolve(incident=created, at=start + timedelta(hours=hours))

    with time_machine.travel(NOW, tick=False):
        incident(billing, end - timedelta(days=3), 3, customer_impact=True)
        incident(billing, end - timedelta(days=3, hours=-2), 1.5, customer_impact=True)  # overlaps by 1 h
        incident(billing, end - timedelta(days=5), 4)  # no customer impact: not downtime
        incident(billing, end - timedelta(days=31), 24 * 1.5, customer_impact=True)  # 12 h inside the window
        compute()
    # Union: 3 h + 0.5 h beyond the first + 12 h at the window's start = 15.5 h of 30 days.
    row = snapshot("service:billing", "30d")
    assert row.value == pytest.approx(100 * (1 - 15.5 * 3600 / (30 * 86400)))
    assert (row.details["source"], row.details["downtime_seconds"], row.sample_size) == ("incidents", 15.5 * 3600, 0)
    # 7 days: only the two overlapping ones, 3.5 h.
    assert snapshot("service:billing", "7d").value == pytest.approx(100 * (1 - 3.5 * 3600 / (7 * 86400)))
    assert snapshot("service:other", "30d").value == 100.0
    # No tier-1 service has SLI data: the global figure is the mean of their fallbacks.
    glob = snapshot("global", "30d")
    assert glob.value == pytest.approx((100 * (1 - 15.5 * 3600 / (30 * 86400)) + 100) / 2)
    assert glob.details["source"] == "incidents"


def test_a_sample_larger_than_a_32_bit_integer_is_capped_and_kept_exactly_in_details() -> None:
    slo = make_slo(tier1_service("cdn"), is_availability=True)
    series(slo, END - timedelta(days=2), 3, good=1_000_000_000, total=1_000_000_000, seconds=3600, now=NOW)
    compute()
    row = snapshot("service:cdn", "7d")
    assert (row.value, row.sample_size, row.details["total"]) == (100.0, MAX_SAMPLE_SIZE, 3_000_000_000)
