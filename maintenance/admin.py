"""Read-only admin of the maintenance records, with a CSV export of the selected rows.

Records are written through the pages, the API and the ingestion endpoints
(maintenance.services keeps flags, approvals and obligations consistent); the
admin is where compliance officers read and export them.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse

from opsgov.evidence import EvidenceAdminMixin

from .models import (
    ChangeApproval,
    ChangeIntegration,
    ChangeRecord,
    Component,
    EndOfLife,
    FreezePeriod,
    Host,
    MaintenanceLog,
    MaintenanceWindow,
    PatchObligation,
    PatchReport,
    UpgradePlan,
)


class _Echo:
    def write(self, value: str) -> str:
        return value


class ReadOnlyCsvAdmin(EvidenceAdminMixin, admin.ModelAdmin):
    """No add, change or delete; an "Export selected as CSV" action over `list_display`."""

    actions = ["export_csv"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Any]) -> StreamingHttpResponse:
        fields = [name for name in self.list_display if isinstance(name, str)]
        writer = csv.writer(_Echo())

        def rows() -> Iterator[str]:
            yield writer.writerow(fields)
            for obj in queryset.iterator():
                yield writer.writerow([str(getattr(obj, name, "")) for name in fields])

        response = StreamingHttpResponse(rows(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{self.model._meta.model_name}.csv"'
        return response


class ApprovalInline(admin.TabularInline):
    model = ChangeApproval
    extra = 0
    can_delete = False
    max_num = 0
    fields = ("reason", "role", "approved_by", "approved_at", "comment")
    readonly_fields = fields


@admin.register(MaintenanceWindow)
class WindowAdmin(ReadOnlyCsvAdmin):
    list_display = ("name", "kind", "rrule", "cron", "timezone", "duration", "approved_by", "approved_at")
    search_fields = ("name",)


@admin.register(FreezePeriod)
class FreezeAdmin(ReadOnlyCsvAdmin):
    list_display = ("name", "kind", "starts_at", "ends_at", "freeze_start", "freeze_end", "timezone")


@admin.register(ChangeRecord)
class ChangeAdmin(ReadOnlyCsvAdmin):
    list_display = (
        "number",
        "title",
        "kind",
        "category",
        "state",
        "outcome",
        "actual_start",
        "outside_window",
        "in_freeze",
        "budget_spent",
        "source",
    )
    list_filter = ("kind", "state", "outcome", "outside_window", "in_freeze")
    search_fields = ("title", "external_id")
    inlines = [ApprovalInline]


@admin.register(ChangeIntegration)
class IntegrationAdmin(ReadOnlyCsvAdmin):
    list_display = ("name", "service", "enabled", "token_prefix")
    exclude = ("token_hash",)


@admin.register(MaintenanceLog)
class LogAdmin(ReadOnlyCsvAdmin):
    list_display = ("service", "activity", "performed_at", "duration", "outcome", "source", "duration_flag")
    list_filter = ("activity", "outcome", "source")


@admin.register(Host)
class HostAdmin(ReadOnlyCsvAdmin):
    list_display = (
        "name",
        "service",
        "timezone",
        "last_report_at",
        "pending_count",
        "reboot_required",
        "kernel_status",
    )
    search_fields = ("name",)
    exclude = ("token_hash",)


@admin.register(PatchReport)
class PatchReportAdmin(ReadOnlyCsvAdmin):
    list_display = ("host", "received_at", "reboot_required")
    list_select_related = ("host",)


@admin.register(PatchObligation)
class ObligationAdmin(ReadOnlyCsvAdmin):
    list_display = (
        "asset",
        "package",
        "version",
        "patch_class",
        "first_detected_at",
        "due_at",
        "met_at",
        "exception_until",
    )
    list_filter = ("patch_class", "source")
    search_fields = ("asset", "package")


@admin.register(Component)
class ComponentAdmin(ReadOnlyCsvAdmin):
    list_display = ("service", "product", "version", "source")


@admin.register(EndOfLife)
class EndOfLifeAdmin(ReadOnlyCsvAdmin):
    list_display = ("product", "cycle", "release_date", "eol_date", "eol_reached", "latest")


@admin.register(UpgradePlan)
class UpgradePlanAdmin(ReadOnlyCsvAdmin):
    list_display = ("component", "target_version", "owner", "due_date", "approved_by", "approved_at")
