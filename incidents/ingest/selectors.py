"""Reads of ingestion: the unknown routing-label values of an integration (incidents.ingest.routing counts
them), and the latest status of each alert signal of an incident.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Prefetch
from django.utils import timezone

from ..models import Incident, Integration, TimelineEvent, TimelineKind, UnknownRoutingValue
from .routing import UNKNOWN_VALUES_DAYS

# --- Routing: unknown label values of an integration ------------------------------------


@dataclass(frozen=True)
class UnknownValueCount:
    """A routing-label value that matched no service: how often it came over the days shown, and when last."""

    value: str
    count: int
    last_seen_at: datetime


def unknown_values_first_day(now: datetime | None = None) -> date:
    """The first UTC day the integration page and API show: the last UNKNOWN_VALUES_DAYS days, today included."""
    today = (now or timezone.now()).astimezone(UTC).date()
    return today - timedelta(days=UNKNOWN_VALUES_DAYS - 1)


def recent_unknown_values_prefetch(now: datetime | None = None) -> Prefetch[Any]:
    """For a list of integrations: their shown rows in one query, read by `unknown_routing_values`."""
    return Prefetch(
        "unknown_routing_values",
        queryset=UnknownRoutingValue.objects.filter(day__gte=unknown_values_first_day(now)),
        to_attr="recent_unknown_routing_values",
    )


def unknown_routing_values(integration: Integration, *, now: datetime | None = None) -> list[UnknownValueCount]:
    """Unknown routing values of the last 7 days, most frequent first (bounded: MAX_VALUES_PER_DAY a day, routing).

    Uses the rows prefetched by `recent_unknown_values_prefetch` when present, else one query.
    """
    rows: Iterable[UnknownRoutingValue] | None = getattr(integration, "recent_unknown_routing_values", None)
    if rows is None:
        rows = integration.unknown_routing_values.filter(day__gte=unknown_values_first_day(now))
    counts: dict[str, int] = {}
    last_seen: dict[str, datetime] = {}
    for row in rows:
        counts[row.value] = counts.get(row.value, 0) + row.count
        last_seen[row.value] = max(last_seen.get(row.value, row.last_seen_at), row.last_seen_at)
    return sorted(
        (UnknownValueCount(value=value, count=count, last_seen_at=last_seen[value]) for value, count in counts.items()),
        key=lambda item: (-item.count, item.value),
    )


# --- Alert signals of an incident -------------------------------------------------------


def signal_statuses(incident: Incident) -> dict[str, str]:
    """Alert fingerprint -> its latest status ("firing", "resolved"), from the incident's SIGNAL timeline entries."""
    latest: dict[str, str] = {}
    for fingerprint, status in (
        TimelineEvent.objects.filter(incident=incident, kind=TimelineKind.SIGNAL)
        .order_by("id")
        .values_list("data__fingerprint", "data__status")
    ):
        if fingerprint:
            latest[str(fingerprint)] = str(status)
    return latest
