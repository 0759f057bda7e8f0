"""Pagination shared by every list endpoint."""

from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """For small tables (teams, services): numbered pages, `page_size` up to 200."""

    page_size_query_param = "page_size"
    max_page_size = 200


class CursorPagination(pagination.CursorPagination):
    """For large tables: no COUNT(*), stable under inserts. Subclasses set `ordering`."""

    page_size_query_param = "page_size"
    max_page_size = 200
