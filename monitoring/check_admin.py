"""Admin and audit trail of the synthetic checks (imported by MonitoringConfig.ready).

Configuration changes are audited; what the checks record as they run (status,
deadlines, last results, ping counters) is history of its own (results, pings,
flips), so it stays out of the audit trail. The admin only reads: checks are
created, changed, paused and deleted on their pages or through the API, whose
services keep the schedule, the status and the alerts consistent.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import CheckFlip, Heartbeat, HeartbeatPing, HttpCheck, HttpCheckResult


def register_audit() -> None:
    from auditlog.registry import auditlog

    auditlog.register(
        HttpCheck,
        exclude_fields=[
            "status",
            "consecutive_failures",
            "next_run_at",
            "last_run_at",
            "last_ok",
            "last_status_code",
            "last_latency_ms",
            "last_error",
            "updated_at",
        ],
    )
    auditlog.register(
        Heartbeat, exclude_fields=["status", "last_ping_at", "last_start_at", "alert_after", "n_pings", "updated_at"]
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    max_num = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FlipInline(_ReadOnlyInline):
    model = CheckFlip
    fields = ("at", "old_status", "new_status", "reason", "details")
    readonly_fields = fields
    ordering = ["-at"]


class HttpCheckAdmin(ReadOnlyAdmin):
    list_display = ["name", "service", "method", "url", "status", "enabled", "last_run_at", "next_run_at"]
    list_filter = ["status", "enabled", "method", "service"]
    search_fields = ["name", "url"]
    list_select_related = ["service"]
    raw_id_fields = ["slo"]
    readonly_fields = [
        "uuid",
        "status",
        "consecutive_failures",
        "next_run_at",
        "last_run_at",
        "last_ok",
        "last_status_code",
        "last_latency_ms",
        "last_error",
    ]
    inlines = [FlipInline]


class HttpCheckResultAdmin(ReadOnlyAdmin):
    list_display = ["http_check", "checked_at", "ok", "status_code", "latency_ms", "error"]
    list_filter = ["ok"]
    list_select_related = ["http_check__service"]
    date_hierarchy = "checked_at"


class HeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["name", "service", "status", "period", "grace", "last_ping_at", "alert_after"]
    list_filter = ["status", "service"]
    search_fields = ["name", "description"]
    list_select_related = ["service"]
    readonly_fields = ["uuid", "status", "last_ping_at", "last_start_at", "alert_after", "n_pings"]
    inlines = [FlipInline]


class HeartbeatPingAdmin(ReadOnlyAdmin):
    list_display = ["heartbeat", "n", "at", "kind", "ignored", "method", "remote_addr"]
    list_filter = ["kind", "ignored"]
    list_select_related = ["heartbeat__service"]


admin.site.register(HttpCheck, HttpCheckAdmin)
admin.site.register(HttpCheckResult, HttpCheckResultAdmin)
admin.site.register(Heartbeat, HeartbeatAdmin)
admin.site.register(HeartbeatPing, HeartbeatPingAdmin)
