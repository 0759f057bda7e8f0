"""The SLO FilterSet: one definition for the API list (and the HTML list page, when it comes)."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema_field

from opsgov.filters import BooleanFilter, SearchFilterSet, TeamSlugFilter
from opsgov.models import Service, Team

from ..models import SLO, SLIKind, SLISource, WindowKind


@extend_schema_field({"type": "array", "items": {"type": "string"}, "description": "Service slug(s)"})
class ServiceSlugFilter(django_filters.ModelMultipleChoiceFilter):
    """`?service=checkout&service=auth`; an unknown slug is a 400 naming the field."""


class SLOFilterSet(SearchFilterSet):
    """Filters of the SLO lists: service, owning team, enabled, kind, window, source and `q`."""

    search_fields = ("name", "description", "service__name", "service__slug")
    service = ServiceSlugFilter(
        field_name="service__slug",
        to_field_name="slug",
        queryset=Service.objects.order_by("name"),
        distinct=False,  # a foreign key cannot duplicate rows
        label="Service",
    )
    team = TeamSlugFilter(
        field_name="service__owner_team__slug",
        to_field_name="slug",
        queryset=Team.objects.order_by("name"),
        distinct=False,
        label="Owner team",
    )
    enabled = BooleanFilter(label="Enabled")
    is_availability = BooleanFilter(label="Availability SLO")
    sli_kind = django_filters.MultipleChoiceFilter(choices=SLIKind.choices, label="SLI kind")
    window_kind = django_filters.MultipleChoiceFilter(choices=WindowKind.choices, label="Window")
    source = django_filters.MultipleChoiceFilter(choices=SLISource.choices, label="SLI source")

    class Meta:
        model = SLO
        fields = ["service", "team", "enabled", "is_availability", "sli_kind", "window_kind", "source"]
