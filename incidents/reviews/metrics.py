"""The action item closing rate: the one source of truth for its definition.

Definition
----------
For a window (start, end] of ``opsgov.registry.WINDOWS`` ending at ``now``
(7, 30 and 90 days; "per 30 days" is the 30d window):

    closing rate = closed ÷ (open at start + created)

* closed — action items whose ``closed_at`` (done or won't do) lies in the
  window: ``start < closed_at <= end``;
* open at start — items created at or before ``start`` and not closed then
  (``closed_at`` empty or after ``start``);
* created — items created in the window: ``start < created_at <= end``.

Every item closed in the window was either open at its start or created in it,
so the value is a ratio between 0 and 1: the share of the work on the table
during the window that got closed. ``None`` ("no data") when the denominator is
0 — no item was open or created — never 0 or 1. ``details`` hold the three
counts (``closed``, ``open_at_start``, ``created``) and ``display`` "no data"
when there is none; ``sample_size`` is the denominator.

The figure reads the items' current state: reopening clears ``closed_at``, so
an item closed and reopened counts as never closed (the audit log keeps the
history). An item of a deleted incident keeps counting globally only.

Scopes: ``global`` (every item) and ``service:<slug>`` (items of the service's
incidents, through ``ActionItem.incident``); every service gets a figure, even
"no data". One grouped query per window (``closing_counts_by_service``); the
global figure adds up the service groups and the group of items without an
incident.

Target: the policy's ``incidents.min_action_item_closing_rate`` (0.5 by default).
"""

from __future__ import annotations

from datetime import datetime

from opsgov.models import Service
from opsgov.policy import get_policy
from opsgov.registry import WINDOWS, MetricDefinition, MetricValue

from .selectors import ClosingCounts, closing_counts_by_service, total

KEY = "action_item_closing_rate"
GLOBAL = "global"


def _value(scope: str, counts: ClosingCounts) -> MetricValue:
    details: dict[str, object] = {
        "closed": counts.closed,
        "open_at_start": counts.open_at_start,
        "created": counts.created,
    }
    if counts.rate is None:
        details["display"] = "no data"
    return MetricValue(scope=scope, value=counts.rate, sample_size=counts.denominator, details=details)


def compute_closing_rate(*, window: str, now: datetime) -> list[MetricValue]:
    """The closing rate per scope over the window ending at `now` (definition in the module docstring)."""
    start = now - WINDOWS[window]
    by_service = closing_counts_by_service(start=start, end=now)
    values = [_value(GLOBAL, total(by_service.values()))]
    for service_id, slug in Service.objects.order_by("slug").values_list("id", "slug"):
        values.append(_value(f"service:{slug}", by_service.get(service_id, ClosingCounts())))
    return values


CLOSING_RATE = MetricDefinition(
    key=KEY,
    title="Action item closing rate",
    unit="ratio",
    comparison=">=",
    target=lambda: get_policy().incidents.min_action_item_closing_rate,
    compute=compute_closing_rate,
    description="Action items closed in the window ÷ (items open at the window's start + items created in it), "
    "0..1; no data when nothing was open or created. Per service through the item's incident.",
)
