"""Reads of the SLOs: lists and details with their latest status in one query, and the SLOs at risk."""

from __future__ import annotations

from django.db.models import QuerySet
from django.urls import NoReverseMatch

from opsgov.policy import get_policy

from ..models import SLO, SLOStatus


def slo_list() -> QuerySet[SLO]:
    """SLOs with their service, owner team and latest status joined (one query for a page), by service and name."""
    return SLO.objects.select_related("service", "service__owner_team", "status").order_by(
        "service__name", "name", "pk"
    )


def at_risk_threshold() -> float:
    """The budget share below which an SLO is at risk (0.25 for the default 25 %)."""
    return get_policy().monitoring.slo_at_risk_budget_percent / 100


def slos_at_risk(*, threshold: float | None = None) -> QuerySet[SLOStatus]:
    """Enabled SLOs whose remaining error budget is below the threshold, the least budget first."""
    limit = at_risk_threshold() if threshold is None else threshold
    return (
        SLOStatus.objects.filter(slo__enabled=True, budget_remaining__lt=limit)
        .select_related("slo__service")
        .order_by("budget_remaining", "slo__service__name", "slo__name")
    )


def slo_url(slo: SLO) -> str:
    """The SLO's page, or "" while the SLO pages are not installed."""
    try:
        return slo.get_absolute_url()
    except NoReverseMatch:
        return ""
