"""Whether a service's availability SLO has spent its error budget: monitoring's answer to
opsgov.registry.error_budgets (maintenance asks it before a normal change; connected by MonitoringConfig.ready).

Read from the SLO engine's latest evaluation (SLOStatus, one row per SLO), so the answer costs one query:
a service is "spent" when an enabled availability SLO of it has ``budget_remaining <= 0``. Services without
an evaluated availability SLO are left out (the caller treats them as not spent).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from .models import SLOStatus


def spent_budgets(*, service_ids: Iterable[int], now: datetime) -> dict[int, bool]:
    spent: dict[int, bool] = {}
    rows = SLOStatus.objects.filter(
        slo__service_id__in=list(service_ids), slo__enabled=True, slo__is_availability=True
    ).values_list("slo__service_id", "budget_remaining")
    for service_id, remaining in rows:
        spent[service_id] = spent.get(service_id, False) or (remaining is not None and remaining <= 0)
    return spent
