"""Read-only admin of the maintenance records, with a CSV export of the selected rows.

Records are written through the pages, the API and the ingestion endpoints
(maintenance.services keeps flags, approvals and obligations consistent); the
admin is where compliance officers read and export them.
"""

from __future__ import annotations

from django.contrib import admin

from opsgov.admin_export import ReadOnlyCsvAdmin

from .models import (
    ChangeApproval,
    ChangeIntegration,
    ChangeRecord,
    ChangeTemplate,
    Component,
    EndOfLife,
    FreezePeriod,
    Host,
    MaintenanceAutomation,
    MaintenanceLog,
    MaintenanceWindow,
    PatchObligation,
    PatchReport,
    UpgradePlan,
)


class ApprovalInline(admin.TabularInline):
    model = ChangeApproval
    extra = 0
    can_delete = False
    max_num = 0
    fields = ("reason", "role", "approved_by", "approved_at", "comment")
    readonly_fields = fields


@admin.register(MaintenanceWindow)
class WindowAdmin(ReadOnlyCsvAdmin):
    list_display = (
        "name",
        "kind",
        "rrule",
        "cron",
        "timezone",
        "duration",
        "approved_by",
        "approved_at",
        "withdrawn_at",
    )
    search_fields = ("name",)


@admin.register(ChangeTemplate)
class ChangeTemplateAdmin(ReadOnlyCsvAdmin):
    list_display = ("name", "category", "risk", "approved_by", "approved_at", "retired_at")
    search_fields = ("name",)


@admin.register(MaintenanceAutomation)
class AutomationAdmin(ReadOnlyCsvAdmin):
    list_display = ("name", "service", "activity", "enabled", "last_ping_at", "n_pings")
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
