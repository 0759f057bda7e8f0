"""FilterSets for teams and services; the same ones drive the API and the HTML lists."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from .models import Lifecycle, Service, ServiceTier, Team


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
    slug = django_filters.AllValuesMultipleFilter()

    class Meta:
        model = Team
        fields = ["id", "slug"]


class ServiceFilterSet(SearchFilterSet):
    search_fields = ("slug", "name", "description")
    slug = django_filters.AllValuesMultipleFilter()
    tier = django_filters.MultipleChoiceFilter(choices=ServiceTier.choices)
    lifecycle = django_filters.MultipleChoiceFilter(choices=Lifecycle.choices)
    owner_team = django_filters.ModelMultipleChoiceFilter(
        field_name="owner_team__slug", to_field_name="slug", queryset=Team.objects.all(), label="Owner team"
    )

    class Meta:
        model = Service
        fields = ["id", "slug", "tier", "lifecycle", "owner_team"]
