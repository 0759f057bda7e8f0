"""The monitoring app's box on the dashboard: SLOs at risk.

An SLO is at risk when less of its error budget remains than the policy's
``monitoring.slo_at_risk_budget_percent`` (25 % by default), read from the SLO
engine's current state (SLOStatus, one row per SLO): one aggregate query for the
counts and one for the worst SLOs, whatever the SLI history. Registered with
opsgov.dashboard's panel registry when opsgov.apps discovers this module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, Q

from opsgov.dashboard import DashboardPanel, panels
from opsgov.policy import get_policy

from .models import SLOStatus
from .slos.selectors import at_risk_threshold, slo_url, slos_at_risk

#: SLOs listed in the box, the least budget first.
SHOWN = 6


def slos_at_risk_context(*, now: datetime) -> dict[str, Any]:
    threshold = at_risk_threshold()
    counts = SLOStatus.objects.filter(slo__enabled=True).aggregate(
        evaluated=Count("pk"),
        at_risk=Count("pk", filter=Q(budget_remaining__lt=threshold)),
        exhausted=Count("pk", filter=Q(budget_remaining__lte=0)),
        no_data=Count("pk", filter=Q(budget_remaining__isnull=True)),
    )
    rows = [
        {
            "status": status,
            "slo": status.slo,
            "url": slo_url(status.slo),
            "budget_percent": None if status.budget_remaining is None else 100 * status.budget_remaining,
        }
        for status in slos_at_risk(threshold=threshold)[:SHOWN]
    ]
    return {
        **counts,
        "threshold_percent": get_policy().monitoring.slo_at_risk_budget_percent,
        "rows": rows,
        "more": max(counts["at_risk"] - len(rows), 0),
    }


SLOS_AT_RISK = DashboardPanel(
    key="slos-at-risk",
    title="SLOs at risk",
    template="monitoring/dashboard/_slos_at_risk.html",
    context=slos_at_risk_context,
    order=30,
)


# Shown on the dashboard once opsgov discovers this module (opsgov.apps).
panels.register(SLOS_AT_RISK)
