"""Routing by label: which service an ingested alert belongs to (DESIGN.md, "Data flow: an alert").

Runs at processing time (incidents.ingest.services, in the Celery task), never in the
HTTP hot path, whose insert stays one statement.

- An external integration names its routing label (Integration.routing_label):
  for Alertmanager a label of each alert (default `service`); for Events v2
  `payload.component` (default) or `custom_details.<key>`.
- The label's value routes to the service whose slug it is, else the service
  that lists it in its aliases (Service.aliases). Values compare exactly.
- A missing or unknown value routes to the integration's own service
  (Integration.service, its default) and the incident's timeline gets a note
  once per value. Unknown values (not missing ones) are counted per
  integration, UTC day and value in UnknownRoutingValue, which the integration
  page and API read for the last UNKNOWN_VALUES_DAYS days. Bounded: at most
  MAX_VALUES_PER_DAY distinct values per integration and day (more are counted
  under OTHER_VALUES), and a day's first row deletes rows older than KEEP_DAYS.
- Internal monitoring integrations route to their own service, always.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F

from opsgov.models import Service

from ..models import (
    DEFAULT_ROUTING_LABELS,
    Incident,
    Integration,
    IntegrationKind,
    TimelineEvent,
    TimelineKind,
    UnknownRoutingValue,
)
from .schemas import AlertmanagerAlert, PagerDutyTrigger

#: The integration page and API list the unknown values of this many days.
UNKNOWN_VALUES_DAYS = 7
#: Rows of older days are deleted (kept a day longer than shown).
KEEP_DAYS = UNKNOWN_VALUES_DAYS + 1
#: Distinct unknown values counted per integration and day; further ones are counted under OTHER_VALUES.
MAX_VALUES_PER_DAY = 100
OTHER_VALUES = "(other values)"
#: Values longer than this are cut (the column's length).
MAX_VALUE_LENGTH = 255


@dataclass(frozen=True)
class Route:
    """Where one alert goes: the service, and what it was routed by."""

    service: Service
    label: str
    #: The label's value; None when the alert does not carry it.
    value: str | None
    #: Whether the value named a service (by slug or alias). Internal integrations always match.
    matched: bool

    def note(self, integration: Integration) -> str:
        """The timeline note for a route that fell back to the integration's service ("" when it matched)."""
        if self.matched:
            return ""
        default = f"{self.service.name} ({self.service.slug}), the default service of {integration.name}"
        if self.value is None:
            return f"Routed to {default}: the alert has no {self.label} to route by."
        return f"Routed to {default}: {self.label}={self.value!r} names no service or alias."


@dataclass
class Router:
    """Routes the alerts of one integration; lookups are cached for the event being processed."""

    integration: Integration
    _found: dict[str, Service | None] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The effective routing label ("" for internal integrations, which do not route)."""
        if self.integration.kind == IntegrationKind.MONITORING:
            return ""
        return self.integration.routing_label or DEFAULT_ROUTING_LABELS.get(self.integration.kind, "")

    def route(self, value: Any) -> Route:
        """The route for a label value (anything the sender put there: only a non-empty text or number routes)."""
        label = self.label
        default = self.integration.service
        if not label:
            return Route(service=default, label="", value=None, matched=True)
        text = _text(value)
        if text is None:
            return Route(service=default, label=label, value=None, matched=False)
        service = self._service(text)
        if service is None:
            return Route(service=default, label=label, value=text, matched=False)
        return Route(service=service, label=label, value=text, matched=True)

    def alertmanager(self, alert: AlertmanagerAlert) -> Route:
        return self.route(alert.labels.get(self.label) if self.label else None)

    def pagerduty(self, trigger: PagerDutyTrigger) -> Route:
        label = self.label
        if label == "payload.component":
            return self.route(trigger.payload.component)
        if label.startswith("custom_details."):
            details = trigger.payload.custom_details
            return self.route(details.get(label.removeprefix("custom_details.")) if isinstance(details, dict) else None)
        return self.route(None)

    def _service(self, value: str) -> Service | None:
        if value not in self._found:
            self._found[value] = _service_named(value, default=self.integration.service)
        return self._found[value]


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()
    return text[:MAX_VALUE_LENGTH] if text else None


def _service_named(value: str, *, default: Service) -> Service | None:
    """The service with this slug, else the one with this alias (the oldest, should two ever share it)."""
    if value == default.slug:
        return default
    by_slug = Service.objects.filter(slug=value).first()
    if by_slug is not None:
        return by_slug
    with_aliases = Service.objects.exclude(aliases=[]).order_by("pk")
    if connection.features.supports_json_field_contains:
        return with_aliases.filter(aliases__contains=[value]).first()
    for service in with_aliases:  # SQLite: no JSON containment; services with aliases are few
        if isinstance(service.aliases, list) and value in service.aliases:
            return service
    return None


def note_fallbacks(incident: Incident, integration: Integration, routes: Iterable[Route], *, at: datetime) -> int:
    """A timeline note on `incident` for each route that fell back to the default, once per value; returns how many."""
    pending = {(route.label, route.value): route for route in routes if not route.matched}
    if not pending:
        return 0
    for label, value in TimelineEvent.objects.filter(
        incident=incident, kind=TimelineKind.NOTE, data__has_key="routing"
    ).values_list("data__routing__label", "data__routing__value"):
        pending.pop((label, value), None)
    TimelineEvent.objects.bulk_create(
        TimelineEvent(
            incident=incident,
            kind=TimelineKind.NOTE,
            at=at,
            message=route.note(integration),
            data={"routing": {"label": route.label, "value": route.value, "service": route.service.slug}},
        )
        for route in pending.values()
    )
    return len(pending)


def count_unknown_values(integration: Integration, routes: Iterable[Route], *, at: datetime) -> None:
    """Count each distinct unknown value of one event once, on `at`'s UTC day (an upsert per value)."""
    values = sorted({route.value for route in routes if not route.matched and route.value is not None})
    day = at.astimezone(UTC).date()
    for value in values:
        _count(integration, value, day, at)


def _bump(integration: Integration, value: str, day: Any, at: datetime) -> bool:
    return bool(
        UnknownRoutingValue.objects.filter(integration=integration, day=day, value=value).update(
            count=F("count") + 1, last_seen_at=at
        )
    )


def _count(integration: Integration, value: str, day: Any, at: datetime) -> None:
    if _bump(integration, value, day, at):
        return
    todays = UnknownRoutingValue.objects.filter(integration=integration, day=day)
    if not todays.exists():
        # The integration's first unknown value of the day: forget the days no longer shown.
        UnknownRoutingValue.objects.filter(integration=integration, day__lt=day - timedelta(days=KEEP_DAYS)).delete()
    elif todays.count() >= MAX_VALUES_PER_DAY:
        value = OTHER_VALUES
        if _bump(integration, value, day, at):
            return
    try:
        with transaction.atomic():
            UnknownRoutingValue.objects.create(integration=integration, day=day, value=value, count=1, last_seen_at=at)
    except IntegrityError:  # another worker wrote the row first
        _bump(integration, value, day, at)
