"""What every list page shares (core's and the apps'): the filter bar's query string, pagination and its links.

A list view reads `filter_data(request)` into its FilterSet, pages the filtered queryset with `paginate`, and
passes `list_context(...)` to the template (`includes/pagination.html` keeps the active filters in its links).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict
from django_filters import FilterSet

#: Rows on one page of a list.
PAGE_SIZE = 50


def filter_data(request: HttpRequest) -> QueryDict:
    """The query string without empty values ("any" choices), so they neither fail validation nor clutter links."""
    data = request.GET.copy()
    for key in list(data):
        values = [value for value in data.getlist(key) if value.strip()]
        if values:
            data.setlist(key, values)
        else:
            del data[key]
    return data


def paginate(
    request: HttpRequest, queryset: QuerySet[Any], *, parameter: str = "page", per_page: int = PAGE_SIZE
) -> Page:
    """The page the query string names in `parameter` (a page of two lists on one page has its own)."""
    return Paginator(queryset, per_page).get_page(request.GET.get(parameter))


class OneOfSelect(forms.Select):
    """A single-choice drop-down ("any" or one value) for a multiple-choice filter."""

    def value_from_datadict(self, data: Any, files: MultiValueDict[str, Any], name: str) -> Any:
        return data.getlist(name)


def list_context(data: QueryDict, filterset: FilterSet, page: Page) -> dict[str, object]:
    filters = data.copy()
    filters.pop("page", None)
    return {
        "filter": filterset,
        "page": page,
        "page_range": list(page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1)),
        # The active filters, kept in the pagination links.
        "filter_query": filters,
        "is_filtered": bool(filters),
    }
