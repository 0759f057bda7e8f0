"""The admin's "Export selected as CSV", one implementation for every app.

Compliance officers and auditors export what they look at in the admin: the selected
rows, in the columns of `csv_fields` (default: the list's own columns, `list_display`),
streamed so a large selection never sits in memory. Instants are written in ISO 8601,
empty values as empty cells. `ReadOnlyCsvAdmin` is the step apps' read-only evidence
admin: no add, no change, no delete (opsgov.evidence), and the export.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest, StreamingHttpResponse

from .evidence import EvidenceAdminMixin


class _Echo:
    """A file whose write() hands the line back, so csv.writer yields lines to stream."""

    def write(self, value: str) -> str:
        return value


def csv_cell(value: Any) -> str:
    """One cell: empty for None, ISO 8601 for dates and instants, the text otherwise."""
    if value is None:
        return ""
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    return str(value)


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Iterable[Any]]) -> StreamingHttpResponse:
    """A streamed CSV download of `header` then `rows` (each value written by csv_cell)."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([csv_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _value(obj: Model, name: str) -> Any:
    value = getattr(obj, name, None)
    return value() if callable(value) else value


class CsvExportMixin(admin.ModelAdmin):
    """A ModelAdmin with the "Export selected as CSV" action (for whoever may view the model).

    Put it first among the bases, before opsgov.evidence.EvidenceAdminMixin.
    """

    #: The exported columns; empty: the string entries of list_display.
    csv_fields: Sequence[str] = ()
    actions: Any = ["export_csv"]

    def csv_columns(self) -> list[str]:
        return list(self.csv_fields) or [name for name in self.list_display if isinstance(name, str)]

    @admin.action(description="Export selected as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Any]) -> StreamingHttpResponse:
        columns = self.csv_columns()
        rows = ([_value(obj, name) for name in columns] for obj in queryset.iterator())
        return csv_response(f"opsgov-{self.model._meta.model_name}.csv", columns, rows)


class ReadOnlyCsvAdmin(CsvExportMixin, EvidenceAdminMixin, admin.ModelAdmin):
    """Read-only (records are written by the app's services) and exportable as CSV."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
