"""The incident FilterSet: one definition drives the API list and the HTML list page."""

from __future__ import annotations

import re

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet
from drf_spectacular.utils import extend_schema_field

from opsgov.filters import BooleanFilter, SearchFilterSet
from opsgov.models import Service
from opsgov.policy import get_policy

from .models import AlertSignal, Incident, IncidentStatus, TimelineEvent, TimelineKind


def incident_list() -> QuerySet[Incident]:
    """Incidents with what a list row shows (service, commander, integration) in the same query.

    Ordered newest first, the order of the `incident_triggered_idx` index and of the API cursor.
    """
    return Incident.objects.select_related("service", "commander", "integration").order_by("-triggered_at", "-id")


def incident_detail() -> QuerySet[Incident]:
    """`incident_list()` plus impacted services, prefetched. The timeline is read a page at a time
    (`timeline_entries`): one webhook can bring thousands of alerts."""
    return incident_list().prefetch_related("impacted_services")


def timeline_entries(incident: Incident) -> QuerySet[TimelineEvent]:
    """The incident's timeline, oldest first, with actors (timeline_incident_at_idx): paginate it."""
    return TimelineEvent.objects.filter(incident=incident).select_related("actor").order_by("at", "id")


def alert_signals(incident: Incident) -> QuerySet[AlertSignal]:
    """The incident's alerts with their counts, most recently seen first (alert_signal_recent_idx): paginate it."""
    return AlertSignal.objects.filter(incident=incident).order_by("-last_seen", "-id")


PUBLIC_ID = re.compile(r"(?:INC-)?([0-9]{1,18})", re.IGNORECASE)


def incident_number(value: str) -> int | None:
    """The number of an incident named "INC-316", "inc-316" or "316"; None for anything else."""
    match = PUBLIC_ID.fullmatch(value.strip())
    return int(match.group(1)) if match else None


def severity_filter_choices() -> list[tuple[str, str]]:
    """The effective policy's severities, read when a form is built (the policy can change at runtime)."""
    return [(key, key) for key in get_policy().incidents.severity_keys()]


@extend_schema_field({"type": "array", "items": {"type": "string"}, "description": "Service slug(s)"})
class ServiceSlugFilter(django_filters.ModelMultipleChoiceFilter):
    """`?service=checkout&service=auth`; an unknown slug is a 400 naming the field."""


class IncidentFilterSet(SearchFilterSet):
    """Filters of the incident lists: service, severity, status, trigger range, customer impact and `q`.

    `q` matches (case-insensitively) the title, the summary, the labels of the alerts
    recorded on the timeline (`alertname` and any other label value) and the public id
    ("INC-316"). The labels are read in the database, by an EXISTS over the incident's
    own alert entries (timeline_incident_at_idx), on SQLite and PostgreSQL alike.
    """

    search_fields = ("title", "summary")
    q = django_filters.CharFilter(
        method="search", label="Search", help_text="Title, summary, alert labels (alertname...) or INC-<number>."
    )
    service = ServiceSlugFilter(
        field_name="service__slug",
        to_field_name="slug",
        queryset=Service.objects.order_by("name"),
        # A foreign key cannot duplicate rows: no DISTINCT, which would slow the cursor-paginated list.
        distinct=False,
        label="Service",
    )
    severity = django_filters.MultipleChoiceFilter(choices=severity_filter_choices, label="Severity")
    status = django_filters.MultipleChoiceFilter(choices=IncidentStatus.choices, label="Status")
    triggered_after = django_filters.IsoDateTimeFilter(
        field_name="triggered_at", lookup_expr="gte", label="Triggered at or after"
    )
    triggered_before = django_filters.IsoDateTimeFilter(
        field_name="triggered_at", lookup_expr="lt", label="Triggered before"
    )
    customer_impact = BooleanFilter(label="Customer impact")

    class Meta:
        model = Incident
        fields = ["service", "severity", "status", "triggered_after", "triggered_before", "customer_impact"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        alerts = TimelineEvent.objects.filter(
            incident=OuterRef("pk"), kind__in=(TimelineKind.SIGNAL, TimelineKind.TRIGGERED)
        ).filter(Q(data__labels__alertname__icontains=value) | Q(data__labels__icontains=value))
        # Alerts counted under the incident's Signals (those of a large webhook have no timeline entry each).
        signals = AlertSignal.objects.filter(incident=OuterRef("pk")).filter(
            Q(name__icontains=value) | Q(labels__icontains=value)
        )
        condition = Q(title__icontains=value) | Q(summary__icontains=value) | Q(Exists(alerts)) | Q(Exists(signals))
        number = incident_number(value)
        if number is not None:
            condition |= Q(pk=number)
        return queryset.filter(condition)
