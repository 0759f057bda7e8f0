"""FilterSets of the synthetic checks: the same ones drive the API lists and the checks page."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema_field

from opsgov.filters import BooleanFilter, SearchFilterSet
from opsgov.models import Service

from ..models import CheckStatus, Heartbeat, HttpCheck


@extend_schema_field({"type": "array", "items": {"type": "string"}, "description": "Service slug(s)"})
class ServiceSlugFilter(django_filters.ModelMultipleChoiceFilter):
    """`?service=checkout&service=auth`; an unknown slug is a 400 naming the field."""


def _service_filter() -> ServiceSlugFilter:
    return ServiceSlugFilter(
        field_name="service__slug",
        to_field_name="slug",
        queryset=Service.objects.order_by("name"),
        distinct=False,  # a foreign key cannot duplicate rows
        label="Service",
    )


class HttpCheckFilterSet(SearchFilterSet):
    """Filters: service, status, enabled and `q` (name or URL)."""

    search_fields = ("name", "url")
    service = _service_filter()
    status = django_filters.MultipleChoiceFilter(choices=CheckStatus.choices, label="Status")
    enabled = BooleanFilter(label="Enabled")

    class Meta:
        model = HttpCheck
        fields = ["service", "status", "enabled"]


class HeartbeatFilterSet(SearchFilterSet):
    """Filters: service, status and `q` (name or description)."""

    search_fields = ("name", "description")
    service = _service_filter()
    status = django_filters.MultipleChoiceFilter(choices=CheckStatus.choices, label="Status")

    class Meta:
        model = Heartbeat
        fields = ["service", "status"]
