"""Customer-impacting downtime per service, for opsgov.registry.downtime (the availability fallback).

A service's downtime over [start, end) is the length of the union of the
outage intervals [triggered_at, resolved_at, or `end` while unresolved) of its
incidents flagged customer_impact, cancelled ones excluded (and those triggered
during maintenance when the policy's maintenance.maintenance_alerts_count_in_metrics
is false), clipped to the window; overlapping incidents count once. One query over the incidents that
overlap the window (the window bounds how many there are), then a sweep per service.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q

from opsgov.policy import get_policy

from .models import Incident, IncidentStatus


def customer_impact_seconds(*, service_ids: Iterable[int], start: datetime, end: datetime) -> dict[int, float]:
    """Per service id: seconds of customer-impacting downtime in [start, end) (0.0 for none)."""
    ids = list(service_ids)
    result: dict[int, float] = dict.fromkeys(ids, 0.0)
    incidents = Incident.objects.filter(service_id__in=ids, customer_impact=True, triggered_at__lt=end)
    if not get_policy().maintenance.maintenance_alerts_count_in_metrics:
        incidents = incidents.filter(during_maintenance=False)
    rows = (
        incidents.exclude(status=IncidentStatus.CANCELLED)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=start))
        .order_by("service_id", "triggered_at")
        .values_list("service_id", "triggered_at", "resolved_at")
    )
    intervals: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for service_id, triggered_at, resolved_at in rows:
        low, high = max(triggered_at, start), min(resolved_at or end, end)
        if low < high:
            intervals[service_id].append((low, high))
    for service_id, spans in intervals.items():
        total, reached = 0.0, start
        for low, high in spans:  # sorted by start
            if high > reached:
                total += (high - max(low, reached)).total_seconds()
                reached = high
        result[service_id] = total
    return result
