"""Availability: the monitoring app's operational metric (DESIGN.md, "Metric definitions").

Definition
----------
For each window of ``opsgov.registry.WINDOWS`` (7, 30 and 90 days), ending at
the start of the current minute like every SLO window (monitoring.slos.engine):

- ``service:<slug>``: good ÷ total x 100 of the SLI events of the service's
  availability SLO (``is_availability``, enabled) over the window.
  sample_size = total events; details hold good, total, the SLO (uuid, name,
  objective) and, exactly, ``total`` again when it is larger than sample_size
  can hold (2^31 - 1: a 90-day window of a busy service holds billions).
  The metric window, not the SLO's own budget window, so that the 7/30/90-day
  figures compare like the other operational metrics; the SLO's budget window
  is what SLOStatus reports.
- ``global``: request-weighted over the tier-1 services: (sum of their good) ÷
  (sum of their total) x 100, so a busy service weighs more than a quiet one.
  details["services"] lists each tier-1 service with data (slug, good, total,
  percent), details["without_data"] the tier-1 services that had none.
- No SLI data (no availability SLO, or no events in the window): DESIGN.md's
  fallback, (1 - customer-impacting downtime ÷ window) x 100, with the downtime
  from opsgov.registry.downtime (incidents answers it: the union of the
  service's customer-impacting incidents, triggered to resolved, in the window);
  details["source"] = "incidents", sample_size 0 (there are no events). Without
  that lookup: value None with ``details["no_data"]`` saying why, never 100 %.
  The global figure stays request-weighted over the tier-1 services that have
  SLI data; when none has any, it is the mean of their fallback figures
  (details["source"] = "incidents").

Every service gets a scope (value None when it has nothing), like the
incident metrics, so a service page always has a row to show. Target:
``policy.targets.availability_percent``, met when the value is above it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opsgov.models import Service, ServiceTier
from opsgov.policy import get_policy
from opsgov.registry import WINDOWS, MetricDefinition, MetricValue, downtime, metrics

from .models import SLO
from .slos.engine import floor_minute, refresh_rollups, window_sums

GLOBAL = "global"
# MetricSnapshot.sample_size is a PositiveIntegerField (a 32-bit integer on PostgreSQL).
MAX_SAMPLE_SIZE = 2**31 - 1


def _percent(good: int, total: int) -> float | None:
    return None if total == 0 else good * 100 / total


def compute_availability(*, window: str, now: datetime) -> list[MetricValue]:
    """Availability per service and globally over `window` (a key of WINDOWS): three queries plus the sums."""
    end = floor_minute(now)
    start = end - WINDOWS[window]
    services = list(Service.objects.order_by("slug").values_list("pk", "slug", "tier"))
    slos = {
        slo.service_id: slo
        for slo in SLO.objects.filter(is_availability=True, enabled=True).only(
            "pk", "uuid", "name", "service_id", "objective_percent"
        )
    }
    sums = window_sums({window: (start, end)}, {window: [slo.pk for slo in slos.values()]})[window]

    without_sli = [
        service_id
        for service_id, _, _ in services
        if service_id not in slos or sums.get(slos[service_id].pk, (0, 0))[1] == 0
    ]
    down = downtime.seconds(service_ids=without_sli, start=start, end=end) if without_sli else {}
    window_seconds = (end - start).total_seconds()

    values: list[MetricValue] = []
    weighted: list[dict[str, Any]] = []
    without_data: list[str] = []
    fallbacks: list[float] = []
    for service_id, slug, tier in services:
        slo = slos.get(service_id)
        good, total = sums.get(slo.pk, (0, 0)) if slo is not None else (0, 0)
        details: dict[str, Any] = {"good": good, "total": total, "window_start": start.isoformat()}
        if slo is not None:
            details.update(slo=str(slo.uuid), slo_name=slo.name, objective_percent=float(slo.objective_percent))
        value = _percent(good, total)
        if total == 0:
            if down is not None and service_id in down:
                down_seconds = min(down[service_id], window_seconds)
                value = 100 * (1 - down_seconds / window_seconds)
                details.update(source="incidents", downtime_seconds=down_seconds, window_seconds=window_seconds)
                if tier == ServiceTier.TIER_1:
                    fallbacks.append(value)
            else:
                details["no_data"] = "no enabled availability SLO" if slo is None else "no SLI events in the window"
        values.append(
            MetricValue(scope=f"service:{slug}", value=value, sample_size=min(total, MAX_SAMPLE_SIZE), details=details)
        )
        if tier == ServiceTier.TIER_1:
            if total:
                weighted.append({"service": slug, "good": good, "total": total, "percent": _percent(good, total)})
            else:
                without_data.append(slug)
    good_sum = sum(row["good"] for row in weighted)
    total_sum = sum(row["total"] for row in weighted)
    global_details: dict[str, Any] = {
        "good": good_sum,
        "total": total_sum,
        "services": weighted,
        "without_data": without_data,
        "window_start": start.isoformat(),
    }
    global_value = _percent(good_sum, total_sum)
    if not total_sum and fallbacks:
        global_value = sum(fallbacks) / len(fallbacks)
        global_details["source"] = "incidents"
    elif not total_sum:
        global_details["no_data"] = "no tier-1 service has availability SLI data in the window"
    values.insert(
        0,
        MetricValue(
            scope=GLOBAL,
            value=global_value,
            sample_size=min(total_sum, MAX_SAMPLE_SIZE),
            details=global_details,
        ),
    )
    return values


def _target() -> float:
    return float(get_policy().targets.availability_percent)


def _prepare(*, now: datetime) -> None:
    refresh_rollups(now=now)


AVAILABILITY = MetricDefinition(
    key="availability",
    title="Availability",
    unit="percent",
    comparison=">",
    target=_target,
    compute=compute_availability,
    prepare=_prepare,
    description="Good ÷ total SLI events of each service's availability SLO over the window; globally "
    "request-weighted over tier-1 services. Without SLI data: 1 - customer-impacting downtime ÷ window.",
)


# Registered when opsgov discovers this module (opsgov.apps).
metrics.register(AVAILABILITY)
