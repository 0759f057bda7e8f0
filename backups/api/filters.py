"""FilterSets of the backups API."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema_field

from opsgov.filters import FilterSet, SearchFilterSet
from opsgov.models import Service

from ..models import BackupJob, BackupRun, DRDrill, RestoreTest, RunStatus, Tool


@extend_schema_field({"type": "array", "items": {"type": "string"}, "description": "Service slug(s)"})
class ServiceSlugFilter(django_filters.ModelMultipleChoiceFilter):
    """`?service=checkout&service=auth`; an unknown slug is a 400 naming the field."""


def _service_filter(field_name: str) -> ServiceSlugFilter:
    return ServiceSlugFilter(
        field_name=field_name,
        to_field_name="slug",
        queryset=Service.objects.order_by("name"),
        distinct=False,
        label="Service",
    )


class BackupJobFilterSet(SearchFilterSet):
    """Filters: service, data_type, tool and `q` (name or repository)."""

    search_fields = ("name", "repository")
    service = _service_filter("service__slug")
    data_type = django_filters.CharFilter(max_length=32)
    tool = django_filters.MultipleChoiceFilter(choices=Tool.choices)

    class Meta:
        model = BackupJob
        fields = ["service", "data_type", "tool", "active"]


class BackupRunFilterSet(FilterSet):
    """Filters: job (id), service, status."""

    service = _service_filter("job__service__slug")
    status = django_filters.MultipleChoiceFilter(choices=RunStatus.choices)

    class Meta:
        model = BackupRun
        fields = ["job", "service", "status"]


class RestoreTestFilterSet(FilterSet):
    service = _service_filter("job__service__slug")

    class Meta:
        model = RestoreTest
        fields = ["job", "service", "result"]


class DRDrillFilterSet(FilterSet):
    service = _service_filter("service__slug")

    class Meta:
        model = DRDrill
        fields = ["service"]
