"""The monitoring app's box on the dashboard: SLOs at risk.

An SLO is at risk when less of its error budget remains than the policy's
``monitoring.slo_at_risk_budget_percent`` (25 % by default), read from the SLO
engine's current state (SLOStatus, one row per SLO): one aggregate query for the
counts and one for the worst SLOs, whatever the SLI history. Registered with
opsgov.dashboard's panel registry when opsgov.apps discovers this module.

A tier-1 service with an SLO whose error budget is spent (none left, or
overspent) is also listed above the fold, at the top of the dashboard (the
panel's ``attention`` hook): one query, at most SHOWN rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, Q

from opsgov.dashboard import Attention, DashboardPanel, panels
from opsgov.models import ServiceTier
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


def _spent(remaining: float) -> str:
    """How far a spent budget went: "tier 1, error budget used up" or "... overspent by 72.2 %"."""
    if remaining < 0:
        return f"tier 1, error budget overspent by {-100 * remaining:.1f} %"
    return "tier 1, error budget used up"


def spent_tier1_budgets(*, now: datetime) -> list[Attention]:
    """Enabled SLOs of tier-1 services whose error budget is spent, the most overspent first (one query).

    At most SHOWN are listed; a last item says there are more and leads to the panel.
    """
    statuses = list(
        SLOStatus.objects.filter(slo__enabled=True, slo__service__tier=ServiceTier.TIER_1, budget_remaining__lte=0)
        .select_related("slo__service")
        .order_by("budget_remaining", "slo__service__name", "slo__name")[: SHOWN + 1]
    )
    items = [
        Attention(
            label="Error budget spent",
            text=f"{status.slo.service.name}: {status.slo.name}",
            url=slo_url(status.slo),
            detail=_spent(status.budget_remaining or 0.0),
        )
        for status in statuses[:SHOWN]
    ]
    if len(statuses) > SHOWN:
        items.append(
            Attention(
                label="Error budget spent",
                text="More tier-1 SLOs have spent their error budget",
                url="#panel-slos-at-risk",
            )
        )
    return items


SLOS_AT_RISK = DashboardPanel(
    key="slos-at-risk",
    title="SLOs at risk",
    template="monitoring/dashboard/_slos_at_risk.html",
    context=slos_at_risk_context,
    order=30,
    attention=spent_tier1_budgets,
)


# Shown on the dashboard once opsgov discovers this module (opsgov.apps).
panels.register(SLOS_AT_RISK)
