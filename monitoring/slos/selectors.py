"""Reads of the monitoring app: SLO lists and details with their latest status, in one query."""

from __future__ import annotations

from django.db.models import QuerySet

from ..models import SLO


def slo_list() -> QuerySet[SLO]:
    """SLOs with their service, owner team and latest status joined (one query for a page), by service and name."""
    return SLO.objects.select_related("service", "service__owner_team", "status").order_by(
        "service__name", "name", "pk"
    )
