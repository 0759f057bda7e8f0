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

from ..models import CheckFlip, Heartbeat, HeartbeatPing, HttpCheck, HttpCheckResult
from .services import HEARTBEAT_STATE_FIELDS, HTTP_CHECK_STATE_FIELDS


def register_audit() -> None:
    from auditlog.registry import auditlog

    auditlog.register(HttpCheck, exclude_fields=[*HTTP_CHECK_STATE_FIELDS, "updated_at"])
    auditlog.register(Heartbeat, exclude_fields=[*HEARTBEAT_STATE_FIELDS, "updated_at"])


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


class _CheckAdmin(ReadOnlyAdmin):
    list_select_related = ["service"]
    inlines = [FlipInline]


class HttpCheckAdmin(_CheckAdmin):
    list_display = ["name", "service", "method", "url", "status", "enabled", "last_run_at", "next_run_at"]
    list_filter = ["status", "enabled", "method", "service"]
    search_fields = ["name", "url"]
    raw_id_fields = ["slo"]
    readonly_fields = ["uuid", *HTTP_CHECK_STATE_FIELDS]


class HttpCheckResultAdmin(ReadOnlyAdmin):
    list_display = ["http_check", "checked_at", "ok", "status_code", "latency_ms", "error"]
    list_filter = ["ok"]
    list_select_related = ["http_check__service"]
    date_hierarchy = "checked_at"


class HeartbeatAdmin(_CheckAdmin):
    list_display = ["name", "service", "status", "period", "grace", "last_ping_at", "alert_after"]
    list_filter = ["status", "service"]
    search_fields = ["name", "description"]
    readonly_fields = ["uuid", *HEARTBEAT_STATE_FIELDS]


class HeartbeatPingAdmin(ReadOnlyAdmin):
    list_display = ["heartbeat", "n", "at", "kind", "ignored", "method", "remote_addr"]
    list_filter = ["kind", "ignored"]
    list_select_related = ["heartbeat__service"]


admin.site.register(HttpCheck, HttpCheckAdmin)
admin.site.register(HttpCheckResult, HttpCheckResultAdmin)
admin.site.register(Heartbeat, HeartbeatAdmin)
admin.site.register(HeartbeatPing, HeartbeatPingAdmin)
