"""FilterSets of the alert-rule catalog and runbooks: the same ones drive the API lists and the pages."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema_field

from opsgov.filters import BooleanFilter, SearchFilterSet
from opsgov.models import Service
from opsgov.policy import get_policy

from ..models import AlertRule, Runbook
from .selectors import HAS_RUNBOOK, review_cutoff


@extend_schema_field({"type": "array", "items": {"type": "string"}, "description": "Service slug(s)"})
class ServiceSlugFilter(django_filters.ModelMultipleChoiceFilter):
    """`?service=checkout&service=auth`; an unknown slug is a 400 naming the field."""


def _service_filter(field_name: str, *, distinct: bool) -> ServiceSlugFilter:
    return ServiceSlugFilter(
        field_name=field_name,
        to_field_name="slug",
        queryset=Service.objects.order_by("name"),
        distinct=distinct,
        label="Service",
    )


class RunbookFilterSet(SearchFilterSet):
    """Filters of the runbook lists: service, overdue review, owner (username) and `q` (title, slug, body)."""

    search_fields = ("title", "slug", "body")
    service = _service_filter("services__slug", distinct=True)
    overdue = BooleanFilter(method="filter_overdue", label="Review overdue")
    owner = django_filters.CharFilter(field_name="owner__username", label="Owner (username)")

    class Meta:
        model = Runbook
        fields = ["service", "overdue", "owner"]

    def filter_overdue(self, queryset: QuerySet[Runbook], name: str, value: bool | None) -> QuerySet[Runbook]:
        if value is None:
            return queryset
        late = Q(last_reviewed_at__lt=review_cutoff())
        return queryset.filter(late) if value else queryset.exclude(late)


def severity_filter_choices() -> list[tuple[str, str]]:
    """The effective policy's severities, read when a form is built."""
    return [(key, key) for key in get_policy().incidents.severity_keys()]


class AlertRuleFilterSet(SearchFilterSet):
    """Filters of the alert rule lists: service, severity, has_runbook, file and `q` (name, expr, group)."""

    search_fields = ("name", "expr", "group__name")
    service = _service_filter("service__slug", distinct=False)
    severity = django_filters.MultipleChoiceFilter(choices=severity_filter_choices, label="Severity")
    has_runbook = BooleanFilter(method="filter_has_runbook", label="Has a runbook")
    has_service = BooleanFilter(field_name="service", lookup_expr="isnull", exclude=True, label="Has a service")
    file = django_filters.CharFilter(field_name="group__rule_file__name", label="Rule file")

    class Meta:
        model = AlertRule
        fields = ["service", "severity", "has_runbook", "has_service", "file"]

    def filter_has_runbook(self, queryset: QuerySet[AlertRule], name: str, value: bool | None) -> QuerySet[AlertRule]:
        if value is None:
            return queryset
        return queryset.filter(HAS_RUNBOOK) if value else queryset.exclude(HAS_RUNBOOK)
