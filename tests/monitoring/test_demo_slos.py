"""monitoring.slos.demo: SLOs with 30 days of SLI data; checkout availability burns its budget, added once."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
import time_machine

from incidents.models import RawEvent
from monitoring.models import SLO, SLIBucket, SLOStatus
from monitoring.slos import demo as demo_slos
from opsgov.models import ServiceTier
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 14, 7, 40, tzinfo=UTC)
TIERS = {
    "api-gateway": ServiceTier.TIER_1,
    "checkout": ServiceTier.TIER_1,
    "payments-ledger": ServiceTier.TIER_1,
    "auth": ServiceTier.TIER_1,
    "web-frontend": ServiceTier.TIER_2,
    "reporting": ServiceTier.TIER_3,
}


def seed() -> str:
    out = io.StringIO()
    demo_slos.seed(stdout=out)
    return out.getvalue()


def test_demo_slos_burn_only_checkout_and_are_added_once() -> None:
    for slug, tier in TIERS.items():
        ServiceFactory.create(slug=slug, tier=tier)
    with time_machine.travel(NOW, tick=False):
        message = seed()
        assert "10 SLOs" in message
        # Two per tier-1/2 service, none for the tier-3 one; one availability SLO per service.
        assert SLO.objects.count() == 10 and not SLO.objects.filter(service__slug="reporting").exists()
        assert SLO.objects.filter(is_availability=True).count() == 5
        # Data end at the current minute: the last 1-minute bucket starts at 14:06 and ends at 14:07.
        assert set(SLO.objects.values_list("last_sli_at", flat=True)) == {datetime(2026, 11, 20, 14, 7, tzinfo=UTC)}
        burning = SLO.objects.get(service__slug="checkout", name="Checkout availability")
        statuses = {status.slo_id: status for status in SLOStatus.objects.all()}
        assert len(statuses) == 10
        assert "page-fast" in statuses[burning.pk].firing
        remaining = statuses[burning.pk].budget_remaining
        assert remaining is not None and remaining < 0
        assert all(not status.firing for slo_id, status in statuses.items() if slo_id != burning.pk)
        # 30 days of data in every window: more than 29 days' worth of traffic was seen.
        assert all(status.total > 0 for status in statuses.values())
        triggers = set(RawEvent.objects.filter(dedup_key__startswith="slo:").values_list("dedup_key", flat=True))
        assert triggers == {f"slo:{burning.uuid}"}, "every burn-rate alert of the SLO is keyed to its breach"
        assert any(
            event.payload["slo_alert"]["alert"] == "page-fast"
            for event in RawEvent.objects.filter(dedup_key__in=triggers)
        )

        buckets, events = SLIBucket.objects.count(), RawEvent.objects.count()
        assert "already there" in seed()
        assert (SLO.objects.count(), SLIBucket.objects.count(), RawEvent.objects.count()) == (10, buckets, events)
