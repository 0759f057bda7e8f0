"""The support app's box on the dashboard: the open backlog by queue, and tickets past an SLA target.

Registered with opsgov.dashboard's panel registry when opsgov.apps discovers this module;
opsgov never imports this app. Current state only, in a fixed number of queries whatever the history:

* the panel: the queue counts (one query, each count capped at selectors.COUNT_CAP and read from a
  partial index of the open tickets) and the open tickets due soonest among those at risk or overdue
  (one query, at most SHOWN, through ``ticket_open_queue_idx``);
* attention: open tickets past a target (first response or resolution due and not met), most overdue
  first, at most SHOWN (one query).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q
from django.urls import reverse

from opsgov.dashboard import Attention, DashboardPanel, panels

from . import selectors, sla
from .models import OPEN_STATUSES, Ticket

#: Tickets listed in the panel and above the fold.
SHOWN = 5

_OPEN = [str(status) for status in OPEN_STATUSES]


def _queue_url(name: str) -> str:
    return f"{reverse('support-queue')}?queue={name}"


def support_context(*, now: datetime) -> dict[str, Any]:
    """The open backlog per queue (capped counts, no "mine": the dashboard is nobody's) and the tickets due first."""
    counts = selectors.backlog_counts(now=now)
    breaching = list(
        Ticket.objects.filter(selectors.queue_filter("breaching", user=None, now=now))
        .select_related("requester")
        .order_by("resolution_due_at", "id")[:SHOWN]
    )
    return {
        "rows": [
            {"queue": name, "label": label, "count": counts[name], "url": _queue_url(name)}
            for name, label in (
                ("all", "Open"),
                ("unassigned", "Unassigned"),
                ("breaching", "Breaching soon or overdue"),
                ("waiting", "Waiting on customer"),
            )
        ],
        "total": counts["all"],
        "breaching": [
            (ticket, sla.describe(ticket.resolution_due_at, now=now, at_risk_at=ticket.resolution_at_risk_at))
            for ticket in breaching
        ],
        "all_url": _queue_url("all"),
    }


def overdue_tickets(*, now: datetime) -> list[Attention]:
    """Open tickets past their first-response or resolution target, the earliest due first (one query)."""
    late = Q(first_response_at__isnull=True, response_due_at__lte=now) | Q(
        resolved_at__isnull=True, resolution_due_at__lte=now
    )
    tickets = list(Ticket.objects.filter(late, status__in=_OPEN).order_by("resolution_due_at", "id")[: SHOWN + 1])
    items = []
    for ticket in tickets[:SHOWN]:
        responded = ticket.first_response_at is not None or (ticket.response_due_at or now) > now
        due = ticket.resolution_due_at if responded else ticket.response_due_at
        items.append(
            Attention(
                label="SLA breached",
                text=f"{ticket.public_id} {ticket.subject} ({ticket.priority})",
                url=ticket.get_absolute_url(),
                detail=f"{'resolution' if responded else 'first response'} {sla.describe(due, now=now)[0]}",
            )
        )
    if len(tickets) > SHOWN:
        items.append(
            Attention(label="SLA breached", text="More open tickets are past a target", url=_queue_url("breaching"))
        )
    return items


SUPPORT = DashboardPanel(
    key="support-queues",
    title="Support queues",
    template="support/dashboard/_support_queues.html",
    context=support_context,
    order=40,
    attention=overdue_tickets,
)


# Shown on the dashboard once opsgov discovers this module (opsgov.apps).
panels.register(SUPPORT)
