"""SLI intake: the one place SLI data enters opsgov (push API, PromQL pull, synthetic checks).

A reading is the good and total event counts of one SLO over one interval
[start, start + seconds). Writing is idempotent per (SLO, start): a reading
sent again replaces the stored one, so a client retrying a batch, or the
puller re-reading an interval, never counts events twice.

Every write also marks the UTC hours it touched (SLIDirtyHour, in the same
transaction), so the SLO engine recomputes the rollups of those hours only
(monitoring.slos.engine.refresh_rollups): an evaluation after a new minute of data
costs what that minute costs, not what the history costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ..models import SLO, SLIBucket, SLIDirtyHour


@dataclass(frozen=True)
class SLIReading:
    start: datetime
    good: int
    total: int
    seconds: int = 60


def validate_readings(readings: Sequence[SLIReading], *, now: datetime | None = None) -> None:
    """Raise ValidationError naming the reading (by index) and field of every bad reading."""
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    seen: dict[datetime, int] = {}
    for index, reading in enumerate(readings):
        where = f"buckets[{index}]"
        if reading.start.tzinfo is None:
            errors.setdefault(f"{where}.start", []).append("Needs a time zone (e.g. 2026-11-27T10:00:00Z).")
        elif reading.start > now:
            errors.setdefault(f"{where}.start", []).append("Is in the future.")
        if reading.seconds <= 0:
            errors.setdefault(f"{where}.seconds", []).append("Must be positive.")
        if reading.good < 0:
            errors.setdefault(f"{where}.good", []).append("Must not be negative.")
        if reading.total < reading.good:
            errors.setdefault(f"{where}.total", []).append("Must be at least good.")
        if reading.start in seen:
            errors.setdefault(f"{where}.start", []).append(f"Repeats buckets[{seen[reading.start]}].start.")
        seen.setdefault(reading.start, index)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def record_sli(*, slo: SLO, readings: Sequence[SLIReading], now: datetime | None = None) -> int:
    """Store `readings` for `slo` (insert or replace per start); returns how many were written.

    All or nothing: one bad reading rejects the batch. Updates the SLO's
    freshness (`last_sli_at`, the end of its newest interval).
    """
    if not readings:
        return 0
    validate_readings(readings, now=now)
    SLIBucket.objects.bulk_create(
        [
            SLIBucket(slo=slo, start=reading.start, seconds=reading.seconds, good=reading.good, total=reading.total)
            for reading in readings
        ],
        update_conflicts=True,
        unique_fields=["slo", "start"],
        update_fields=["seconds", "good", "total", "updated_at"],
        batch_size=1000,
    )
    hours = {reading.start.astimezone(UTC).replace(minute=0, second=0, microsecond=0) for reading in readings}
    SLIDirtyHour.objects.bulk_create([SLIDirtyHour(slo=slo, hour=hour) for hour in sorted(hours)], batch_size=1000)
    newest = max(reading.start.timestamp() + reading.seconds for reading in readings)
    newest_at = datetime.fromtimestamp(newest, tz=timezone.get_current_timezone())
    SLO.objects.filter(pk=slo.pk).filter(last_sli_at__isnull=True).update(last_sli_at=newest_at)
    SLO.objects.filter(pk=slo.pk, last_sli_at__lt=newest_at).update(last_sli_at=newest_at)
    return len(readings)


def newest_bucket_start(slo: SLO) -> datetime | None:
    return SLIBucket.objects.filter(slo=slo).aggregate(newest=Max("start"))["newest"]
