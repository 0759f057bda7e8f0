"""The maintenance area's box on the dashboard: patch compliance, critical patches late, cadences overdue,
changes waiting for a conflict approval.

Current state only, six queries whatever the history (the current snapshot, late critical patches, the
services and their last maintenance logs, the changes waiting, the attention list): the patch-compliance
figure is the metric cycle's current 30-day snapshot (MetricSnapshot), not a scan of the obligations.
Registered with
opsgov.dashboard's panel registry when opsgov.apps discovers this module.

Critical security patches past their deadline (48 h by default) are also listed above the fold (the panel's
``attention`` hook): one query, at most SHOWN rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q
from django.urls import reverse

from opsgov.dashboard import Attention, DashboardPanel, panels
from opsgov.models import MetricSnapshot
from opsgov.policy import get_policy

from . import selectors
from .models import ChangeRecord, ChangeState, PatchObligation

#: Rows listed in the box and above the fold.
SHOWN = 5


def _late_critical(now: datetime) -> Any:
    return (
        PatchObligation.objects.filter(patch_class="security_critical", met_at__isnull=True, due_at__lt=now)
        .exclude(exception_until__gt=now)
        .order_by("due_at", "id")
    )


def maintenance_context(*, now: datetime) -> dict[str, Any]:
    snapshot = (
        MetricSnapshot.objects.filter(metric="patch_compliance", scope="global", window="30d", is_current=True)
        .order_by("-computed_at")
        .first()
    )
    late = list(_late_critical(now).select_related("service")[: SHOWN + 1])
    late_rows = late[:SHOWN]
    overdue = [row for row in selectors.cadence_status(now=now) if row.overdue]
    waiting = ChangeRecord.objects.filter(
        Q(outside_window=True) | Q(in_freeze=True),
        state__in=[ChangeState.NEW, ChangeState.ASSESS, ChangeState.AUTHORISE],
    ).count()
    return {
        "compliance": None if snapshot is None else snapshot.value,
        "compliance_sample": 0 if snapshot is None else snapshot.sample_size,
        "target": get_policy().targets.patch_compliance_percent,
        "late_critical": late_rows,
        "late_more": len(late) > SHOWN,
        "overdue": overdue[:SHOWN],
        "overdue_count": len(overdue),
        "waiting": waiting,
        "calendar_url": reverse("maintenance:calendar"),
        "hosts_url": reverse("maintenance:host-list"),
        "changes_url": reverse("maintenance:change-list"),
    }


def late_critical_patches(*, now: datetime) -> list[Attention]:
    """Critical security patches past their deadline, the oldest first (one query; SHOWN at most, then "more")."""
    rows = list(_late_critical(now).select_related("host")[: SHOWN + 1])
    items = [
        Attention(
            label="Critical patch late",
            text=f"{row.package} {row.version} on {row.asset}",
            url=reverse("maintenance:host-detail", kwargs={"uuid": row.host.uuid})
            if row.host is not None
            else reverse("maintenance:host-list"),
            detail=f"due {row.due_at:%Y-%m-%d %H:%M} UTC",
        )
        for row in rows[:SHOWN]
    ]
    if len(rows) > SHOWN:
        items.append(
            Attention(label="Critical patch late", text="More critical patches are late", url="#panel-maintenance")
        )
    return items


MAINTENANCE = DashboardPanel(
    key="maintenance",
    title="Maintenance and patching",
    template="maintenance/dashboard/_maintenance.html",
    context=maintenance_context,
    order=40,
    attention=late_critical_patches,
)


# Shown on the dashboard once opsgov discovers this module (opsgov.apps).
panels.register(MAINTENANCE)
