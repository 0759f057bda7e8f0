"""The incidents app's boxes on the dashboard: open incidents by severity, and who is on call now.

Registered with opsgov.dashboard's panel registry when opsgov.apps discovers this module;
opsgov never imports this app. Both read current state only, in a fixed number
of queries whatever the history:

* open incidents: one grouped count over the open incidents (the partial index
  ``incident_open_dedup_idx`` covers exactly the open rows) and one query for the
  newest open incidents of a failure severity (at most ``SHOWN``);
* on call: the schedules with their layers, members and current overrides
  (``incidents.oncall.selectors.schedule_queryset``: four queries for any number of schedules).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count
from django.urls import reverse

from opsgov.dashboard import DashboardPanel, panels
from opsgov.policy import get_policy

from .models import OPEN_STATUSES, Incident
from .oncall import selectors as oncall

#: Newest open failure-severity incidents listed under the counts.
SHOWN = 5
#: Schedules listed in the on-call box (the on-call page lists them all).
SCHEDULES_SHOWN = 8

_OPEN = [str(status) for status in OPEN_STATUSES]


def _list_url(**filters: Any) -> str:
    return f"{reverse('incident-list')}?{urlencode(filters, doseq=True)}"


def open_incidents_context(*, now: datetime) -> dict[str, Any]:
    """Open incidents (triggered, acknowledged, mitigated) counted per policy severity, and the newest severe ones."""
    policy = get_policy().incidents
    grouped = Incident.objects.filter(status__in=_OPEN).values("severity").annotate(open=Count("id")).order_by()
    counts: dict[str, int] = {row["severity"]: row["open"] for row in grouped}
    severities = policy.severity_keys() + sorted(set(counts) - set(policy.severities))
    rows = [
        {
            "severity": key,
            "description": policy.severities[key].description if key in policy.severities else "",
            "count": counts.get(key, 0),
            "failure": key in policy.failure_severities,
            "url": _list_url(severity=key, status=_OPEN),
        }
        for key in severities
    ]
    severe = list(
        Incident.objects.filter(status__in=_OPEN, severity__in=list(policy.failure_severities))
        .select_related("service")
        .order_by("-triggered_at", "-id")[:SHOWN]
    )
    return {
        "rows": rows,
        "total": sum(counts.values()),
        "severe": severe,
        "all_url": _list_url(status=_OPEN),
    }


def on_call_context(*, now: datetime) -> dict[str, Any]:
    """Who holds each on-call schedule now, until when; schedules with nobody on call first."""
    schedules = list(oncall.schedule_queryset(overrides_after=now))
    statuses = sorted(
        (oncall.on_call_status(schedule, now) for schedule in schedules),
        key=lambda status: (status.user is not None, status.schedule.name),
    )
    return {
        "statuses": statuses[:SCHEDULES_SHOWN],
        "more": max(len(statuses) - SCHEDULES_SHOWN, 0),
        "uncovered": sum(1 for status in statuses if status.user is None),
        "count": len(statuses),
    }


OPEN_INCIDENTS = DashboardPanel(
    key="open-incidents",
    title="Open incidents",
    template="incidents/dashboard/_open_incidents.html",
    context=open_incidents_context,
    order=10,
)
ON_CALL = DashboardPanel(
    key="on-call",
    title="On call now",
    template="incidents/dashboard/_on_call.html",
    context=on_call_context,
    order=20,
)


# Shown on the dashboard once opsgov discovers this module (opsgov.apps).
panels.register(OPEN_INCIDENTS)
panels.register(ON_CALL)
