"""FilterSets for teams and services; the same ones drive the API and the HTML lists."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db import models
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema_field

from .models import Lifecycle, MetricSnapshot, Service, ServiceTier, Team
from .registry import WINDOWS

#: The widest integer column of the databases opsgov runs on (bigint): an id or number filter outside it
#: is a 400, not an overflow in the driver (SQLite) or a value the column can never equal.
INTEGER_RANGE = (-(2**63), 2**63 - 1)

_TRUE_VALUES = frozenset({"true", "True", "1"})
_FALSE_VALUES = frozenset({"false", "False", "0"})
_NO_VALUES = frozenset({"", "unknown"})  # "unknown" is NullBooleanSelect's "either" on the HTML filter forms


class StrictNullBooleanSelect(forms.NullBooleanSelect):
    """Django's yes/no/either select, passing a value it does not know on to the field instead of dropping it."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        raw = data.get(name)
        if raw is None or raw in _NO_VALUES:
            return None
        if raw in _TRUE_VALUES:
            return True
        if raw in _FALSE_VALUES:
            return False
        return raw  # StrictNullBooleanField refuses it


class StrictNullBooleanField(forms.NullBooleanField):
    """true, false or nothing: anything else is an error naming the value (Django's field reads it as "either").

    Pages may give it another widget (a plain select of "", "true", "false"): it reads their strings too.
    """

    widget = StrictNullBooleanSelect
    default_error_messages = {"invalid": "Enter true or false (%(value)s is neither)."}

    def to_python(self, value: Any) -> bool | None:  # type: ignore[override]  # None: no filter
        if value is None or isinstance(value, bool):
            return value
        if value in _NO_VALUES:
            return None
        if value in _TRUE_VALUES:
            return True
        if value in _FALSE_VALUES:
            return False
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid", params={"value": value})


@extend_schema_field({"type": "boolean"})
class BooleanFilter(django_filters.BooleanFilter):
    """django-filter's BooleanFilter, but `?enabled=maybe` is a 400 naming the parameter, not "no filter"."""

    field_class = StrictNullBooleanField


class BoundedIntegerField(forms.IntegerField):
    """An integer within INTEGER_RANGE: `1e30`, `2.3e+27` or `1.5` are errors, not a Decimal sent to the database."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", INTEGER_RANGE[0])
        kwargs.setdefault("max_value", INTEGER_RANGE[1])
        super().__init__(*args, **kwargs)


@extend_schema_field({"type": "integer", "format": "int64"})
class IntegerFilter(django_filters.NumberFilter):
    """A filter on an integer column (ids, numbers): a whole number in INTEGER_RANGE, else a 400.

    django-filter's NumberFilter takes any decimal, so `?incident=1e30` was a valid filter that
    overflowed SQLite (a 500) or matched nothing.
    """

    field_class = BoundedIntegerField


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


class FilterSet(django_filters.FilterSet):
    """django-filter's FilterSet, generating the strict filters above for integer and boolean model fields.

    Every FilterSet of opsgov derives from it (tests/opsgov/test_filters.py walks the API's): an invalid
    value of a filter is a 400 naming the parameter (DjangoFilterBackend raises the form's errors), never a
    value read as "no filter" or sent to the database as it came.
    """

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        **{
            field: {"filter_class": IntegerFilter}
            for field in (
                models.AutoField,
                models.BigAutoField,
                models.SmallAutoField,
                models.IntegerField,
                models.BigIntegerField,
                models.SmallIntegerField,
                models.PositiveIntegerField,
                models.PositiveBigIntegerField,
                models.PositiveSmallIntegerField,
            )
        },
        models.BooleanField: {"filter_class": BooleanFilter},
    }


class SearchFilterSet(FilterSet):
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


class MetricSnapshotFilterSet(FilterSet):
    metric = MultiValueCharFilter()
    scope = MultiValueCharFilter()
    window = django_filters.MultipleChoiceFilter(choices=[(key, key) for key in WINDOWS])

    class Meta:
        model = MetricSnapshot
        fields = ["metric", "scope", "window"]
