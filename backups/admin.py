"""Admin of backups & DR: jobs and DR plans editable by the roles that write (SRE Lead, DevOps Lead);
runs, restore tests, drills and integrity checks are evidence (never deleted). Compliance officers and
security leads read everything (their roles hold only view permissions) and export runs, restore tests
and drills as CSV (the "Export selected as CSV" action)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from opsgov.admin_export import ReadOnlyCsvAdmin

from .models import (
    ApprovalKind,
    BackupJob,
    BackupRun,
    DRDrill,
    DRDrillApproval,
    DRPlan,
    IntegrityCheck,
    RestorePoint,
    RestoreTest,
)


@admin.register(BackupJob)
class BackupJobAdmin(admin.ModelAdmin):
    list_display = ("name", "service", "data_type", "tool", "interval", "cron", "location", "encrypted", "active")
    list_filter = ("data_type", "tool", "location", "active")
    search_fields = ("name", "repository", "service__name")
    readonly_fields = (
        "uuid",
        "encrypted",
        "materialised_until",
        "n_pings",
        "n_rate_limited",
        "consecutive_missed",
        "failure_notified_at",
        "incident_open",
        "wal_archive_max",
        "last_success_at",
    )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # its runs are evidence


@admin.register(BackupRun)
class BackupRunAdmin(ReadOnlyCsvAdmin):
    list_display = ("job", "status", "slot", "started_at", "finished_at", "size_bytes", "snapshot_id", "late")
    list_filter = ("status", "source", "late", "job__data_type")
    search_fields = ("snapshot_id", "job__name")
    csv_fields = (
        "id",
        "job",
        "status",
        "source",
        "slot",
        "late",
        "started_at",
        "finished_at",
        "recorded_at",
        "size_bytes",
        "snapshot_id",
        "exit_status",
        "error",
    )


@admin.register(RestoreTest)
class RestoreTestAdmin(ReadOnlyCsvAdmin):
    list_display = ("job", "result", "verified_at", "rto_seconds", "rto_target_seconds", "rpo_seconds")
    list_filter = ("result",)
    csv_fields = (
        "id",
        "job",
        "restore_point",
        "target",
        "result",
        "started_at",
        "verified_at",
        "data_taken_at",
        "rto_seconds",
        "rto_target_seconds",
        "rpo_seconds",
        "rpo_target_seconds",
        "verification",
    )


class DRDrillApprovalInline(admin.TabularInline):
    """The drill's validations, read-only (recorded through the API by the approver's own action)."""

    model = DRDrillApproval
    fields = ("kind", "approver", "role", "approved_at", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DRDrill)
class DRDrillAdmin(ReadOnlyCsvAdmin):
    list_display = (
        "service",
        "scenario",
        "held_at",
        "owner",
        "rto_achieved_seconds",
        "rpo_achieved_seconds",
        "validated_by",
    )
    inlines = (DRDrillApprovalInline,)
    csv_fields = (
        "id",
        "service",
        "scenario",
        "held_at",
        "owner",
        "rto_target_seconds",
        "rto_achieved_seconds",
        "rpo_target_seconds",
        "rpo_achieved_seconds",
        "participants",
        "issues",
    )

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("service", "owner").prefetch_related("approvals__approver")

    @admin.display(description="Validations")
    def validated_by(self, drill: DRDrill) -> str:
        return "; ".join(
            f"{kind.label.split(' (')[0]}: "
            + (f"{approval.approver.get_username()} {approval.approved_at:%Y-%m-%d}" if approval else "awaiting")
            for kind in ApprovalKind
            for approval in [drill.approval_of(kind)]
        )


@admin.register(DRDrillApproval)
class DRDrillApprovalAdmin(ReadOnlyCsvAdmin):
    list_display = ("drill", "kind", "approver", "role", "approved_at")
    list_filter = ("kind",)
    csv_fields = ("id", "drill", "kind", "approver", "role", "approved_at", "note")


@admin.register(DRPlan)
class DRPlanAdmin(admin.ModelAdmin):
    list_display = ("service", "owner", "reviewed_at", "updated_at")


@admin.register(IntegrityCheck)
class IntegrityCheckAdmin(ReadOnlyCsvAdmin):
    list_display = ("job", "checked_at", "ok", "errors", "report_format")


@admin.register(RestorePoint)
class RestorePointAdmin(ReadOnlyCsvAdmin):
    list_display = ("job", "point_id", "taken_at", "present")
