"""SLI intake (monitoring.slos.sli): idempotent per (SLO, start), all or nothing, freshness kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from monitoring.models import SLO, SLIBucket
from monitoring.slos.sli import SLIReading, record_sli
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)


def make_slo() -> SLO:
    return SLO.objects.create(
        service=ServiceFactory.create(), name="API availability", objective_percent=Decimal("99.9")
    )


def test_sending_the_same_interval_again_replaces_it() -> None:
    slo = make_slo()
    record_sli(slo=slo, readings=[SLIReading(T0, 990, 1000), SLIReading(T0 + timedelta(minutes=1), 5, 5)], now=NOW)
    record_sli(slo=slo, readings=[SLIReading(T0, 995, 1000)], now=NOW)
    assert list(SLIBucket.objects.filter(slo=slo).values_list("good", "total")) == [(995, 1000), (5, 5)]
    slo.refresh_from_db()
    assert slo.last_sli_at == T0 + timedelta(minutes=2), "freshness is the end of the newest interval"


def test_one_bad_reading_rejects_the_batch_naming_it() -> None:
    slo = make_slo()
    with pytest.raises(ValidationError) as caught:
        record_sli(slo=slo, readings=[SLIReading(T0, 1, 1), SLIReading(T0 + timedelta(minutes=1), 7, 5)], now=NOW)
    assert caught.value.message_dict == {"buckets[1].total": ["Must be at least good."]}
    assert not SLIBucket.objects.exists()


def test_future_and_repeated_intervals_are_rejected() -> None:
    slo = make_slo()
    with pytest.raises(ValidationError) as caught:
        record_sli(
            slo=slo,
            readings=[SLIReading(NOW + timedelta(minutes=5), 1, 1), SLIReading(T0, 1, 1), SLIReading(T0, 1, 2)],
            now=NOW,
        )
    assert caught.value.message_dict == {
        "buckets[0].start": ["Is in the future."],
        "buckets[2].start": ["Repeats buckets[1].start."],
    }
