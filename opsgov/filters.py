"""FilterSets for teams and services; the same ones drive the API and the HTML lists."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema_field

from .models import Lifecycle, MetricSnapshot, Service, ServiceTier, Team
from .registry import WINDOWS


class _AnyValuesField(forms.MultipleChoiceField):
    """A multiple-value field that accepts any value (no choices to load)."""

    def valid_value(self, value: str) -> bool:
        return True


class MultiValueCharFilter(django_filters.MultipleChoiceFilter):
    """`?slug=a&slug=b`: matches any of the values, without loading every value as a choice."""

    field_class = _AnyValuesField


@extend_schema_field({"type": "array", "items": {"type": "string"}, "description": "Team slug(s)"})
class TeamSlugFilter(django_filters.ModelMultipleChoiceFilter):
    """`?owner_team=platform&owner_team=payments`; an unknown slug is a 400 naming the field."""


class SearchFilterSet(django_filters.FilterSet):
    """Adds `q`, a case-insensitive search over `search_fields`."""

    search_fields: tuple[str, ...] = ()
    q = django_filters.CharFilter(method="search", label="Search")

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        condition = Q()
        for field in self.search_fields:
            condition |= Q(**{f"{field}__icontains": value})
        return queryset.filter(condition)


class TeamFilterSet(SearchFilterSet):
    search_fields = ("slug", "name", "description")
    slug = MultiValueCharFilter()

    class Meta:
        model = Team
        fields = ["id", "slug"]


class ServiceFilterSet(SearchFilterSet):
    search_fields = ("slug", "name", "description")
    slug = MultiValueCharFilter()
    tier = django_filters.MultipleChoiceFilter(choices=ServiceTier.choices)
    lifecycle = django_filters.MultipleChoiceFilter(choices=Lifecycle.choices)
    owner_team = TeamSlugFilter(
        field_name="owner_team__slug", to_field_name="slug", queryset=Team.objects.all(), label="Owner team"
    )

    class Meta:
        model = Service
        fields = ["id", "slug", "tier", "lifecycle", "owner_team"]


class MetricSnapshotFilterSet(django_filters.FilterSet):
    metric = MultiValueCharFilter()
    scope = MultiValueCharFilter()
    window = django_filters.MultipleChoiceFilter(choices=[(key, key) for key in WINDOWS])

    class Meta:
        model = MetricSnapshot
        fields = ["metric", "scope", "window"]
