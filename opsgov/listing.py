"""What every list page shares (core's and the apps'): the filter bar's query string, pagination and its links.

A list view reads `filter_data(request)` into its FilterSet, pages the filtered queryset with `paginate`, and
passes `list_context(...)` to the template (`includes/pagination.html` keeps the active filters in its links).
A list without a filter bar passes `page_context(request, page)` instead: `includes/pagination.html` needs
the page numbers and the query string to keep in its links either way.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    request: HttpRequest,
    rows: QuerySet[Any] | Sequence[Any],
    *,
    parameter: str = "page",
    per_page: int | None = None,
) -> Page:
    """The page the query string names in `parameter` (a page of two lists on one page has its own).

    `per_page` defaults to PAGE_SIZE as it is when called.
    """
    return Paginator(rows, per_page or PAGE_SIZE).get_page(request.GET.get(parameter))


def page_range(page: Page) -> list[int | str]:
    """The page numbers the pagination links show: the first, two either side of `page`, the last, and ellipses."""
    return list(page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1))


def page_context(request: HttpRequest, page: Page, *, parameter: str = "page") -> dict[str, object]:
    """The context `includes/pagination.html` needs on a list without a filter bar.

    Its links keep the rest of the query string (a tab such as ``?flagged=1`` stays on the next page).
    """
    query = filter_data(request)
    query.pop(parameter, None)
    return {"page": page, "page_range": page_range(page), "filter_query": query}


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
        "page_range": page_range(page),
        # The active filters, kept in the pagination links.
        "filter_query": filters,
        "is_filtered": bool(filters),
    }
