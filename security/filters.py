"""FilterSets of the security lists: the same ones drive the API lists and the pages."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field

from opsgov.filters import BooleanFilter, SearchFilterSet
from opsgov.models import Service

from .models import (
    AlertSource,
    AlertStatus,
    Asset,
    AssetKind,
    Component,
    Finding,
    FindingSource,
    FindingStatus,
    SecurityAlert,
    Severity,
)
from .selectors import valid_acceptances


@extend_schema_field({"type": "array", "items": {"type": "string"}, "description": "Service slug(s)"})
class ServiceSlugFilter(django_filters.ModelMultipleChoiceFilter):
    """`?service=checkout&service=auth`; an unknown slug is a 400 naming the field."""


def _service_filter(field_name: str) -> ServiceSlugFilter:
    return ServiceSlugFilter(
        field_name=field_name, to_field_name="slug", queryset=Service.objects.order_by("name"), label="Service"
    )


class FindingFilterSet(SearchFilterSet):
    """Findings: service, asset (name), severity, status, source, overdue, accepted, and `q` (id, alias, package)."""

    search_fields = ("vulnerability_id", "package_name", "title", "asset__name")
    service = _service_filter("asset__service__slug")
    asset = django_filters.CharFilter(field_name="asset__name", label="Asset (name)")
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    status = django_filters.MultipleChoiceFilter(choices=FindingStatus.choices)
    source = django_filters.ChoiceFilter(choices=FindingSource.choices)
    vulnerability = django_filters.CharFilter(field_name="vulnerability_id", label="Vulnerability id (canonical)")
    package = django_filters.CharFilter(field_name="package_name", lookup_expr="iexact", label="Package name")
    overdue = BooleanFilter(method="filter_overdue", label="Past SLA without a valid acceptance")
    accepted = BooleanFilter(method="filter_accepted", label="Covered by a valid risk acceptance")

    class Meta:
        model = Finding
        fields = ["service", "asset", "severity", "status", "source", "vulnerability", "package"]

    def filter_overdue(self, queryset: QuerySet[Finding], name: str, value: bool | None) -> QuerySet[Finding]:
        if value is None:
            return queryset
        now = timezone.now()
        covered = Exists(valid_acceptances(now).filter(finding=OuterRef("pk")))
        late = queryset.filter(status=FindingStatus.OPEN, due_at__lt=now).exclude(covered)
        return late if value else queryset.exclude(pk__in=late.values("pk"))

    def filter_accepted(self, queryset: QuerySet[Finding], name: str, value: bool | None) -> QuerySet[Finding]:
        if value is None:
            return queryset
        covered = Exists(valid_acceptances(timezone.now()).filter(finding=OuterRef("pk")))
        return queryset.filter(covered) if value else queryset.exclude(covered)


class AssetFilterSet(SearchFilterSet):
    search_fields = ("name", "description")
    service = _service_filter("service__slug")
    kind = django_filters.ChoiceFilter(choices=AssetKind.choices)

    class Meta:
        model = Asset
        fields = ["service", "kind"]


class ComponentFilterSet(SearchFilterSet):
    """The inventory search: `?name=django&version=4.2.10` answers "which assets (services) run it"."""

    search_fields = ("name", "purl")
    name = django_filters.CharFilter(field_name="name", lookup_expr="iexact")
    version = django_filters.CharFilter(field_name="version")
    ecosystem = django_filters.CharFilter(field_name="ecosystem")
    asset = django_filters.CharFilter(field_name="asset__name", label="Asset (name)")
    service = _service_filter("asset__service__slug")

    class Meta:
        model = Component
        fields = ["name", "version", "ecosystem", "asset", "service"]


class SecurityAlertFilterSet(SearchFilterSet):
    """The alert queue: status (default: not closed), severity, source, and `q` (title, rule, host)."""

    search_fields = ("title", "rule", "hostname")
    status = django_filters.MultipleChoiceFilter(choices=AlertStatus.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    source = django_filters.ChoiceFilter(choices=AlertSource.choices)
    service = _service_filter("service__slug")

    class Meta:
        model = SecurityAlert
        fields = ["status", "severity", "source", "service"]
