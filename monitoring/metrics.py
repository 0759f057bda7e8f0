"""Availability: the monitoring app's operational metric (DESIGN.md, "Metric definitions").

Definition
----------
For each window of ``opsgov.registry.WINDOWS`` (7, 30 and 90 days), ending at
the start of the current minute like every SLO window (monitoring.engine):

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
- No SLI data (no availability SLO, or no events in the window): value None
  with ``details["no_data"]`` saying why — never 100 %. DESIGN.md's fallback
  (1 - customer-impacting downtime ÷ window) needs the incidents' downtime,
  which monitoring may not import (sibling apps only meet through opsgov); it
  is not computed here.

Every service gets a scope (value None when it has nothing), like the
incident metrics, so a service page always has a row to show. Target:
``policy.targets.availability_percent``, met when the value is above it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opsgov.models import Service, ServiceTier
from opsgov.policy import get_policy
from opsgov.registry import WINDOWS, MetricDefinition, MetricValue, metrics

from .engine import floor_minute, refresh_rollups, window_sums
from .models import SLO

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

    values: list[MetricValue] = []
    weighted: list[dict[str, Any]] = []
    without_data: list[str] = []
    for service_id, slug, tier in services:
        slo = slos.get(service_id)
        good, total = sums.get(slo.pk, (0, 0)) if slo is not None else (0, 0)
        details: dict[str, Any] = {"good": good, "total": total, "window_start": start.isoformat()}
        if slo is None:
            details["no_data"] = "no enabled availability SLO"
        else:
            details.update(slo=str(slo.uuid), slo_name=slo.name, objective_percent=float(slo.objective_percent))
            if total == 0:
                details["no_data"] = "no SLI events in the window"
        values.append(
            MetricValue(
                scope=f"service:{slug}",
                value=_percent(good, total),
                sample_size=min(total, MAX_SAMPLE_SIZE),
                details=details,
            )
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
    if not total_sum:
        global_details["no_data"] = "no tier-1 service has availability SLI data in the window"
    values.insert(
        0,
        MetricValue(
            scope=GLOBAL,
            value=_percent(good_sum, total_sum),
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
    "request-weighted over tier-1 services. No SLI data: no value.",
)


def register() -> None:
    """Register availability with the metric registry (from MonitoringConfig.ready())."""
    metrics.register(AVAILABILITY)
