"""Admin for incidents (timeline read-only), integrations (token never shown) and raw events."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Incident, Integration, RawEvent, TimelineEvent


class TimelineInline(admin.TabularInline):
    model = TimelineEvent
    extra = 0
    can_delete = False
    fields = ["at", "kind", "actor", "message"]
    readonly_fields = ["at", "kind", "actor", "message"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["__str__", "service", "severity", "status", "triggered_at", "acknowledged_at", "resolved_at"]
    list_filter = ["status", "severity", "service", "customer_impact"]
    search_fields = ["title", "summary", "dedup_key"]
    date_hierarchy = "triggered_at"
    list_select_related = ["service"]
    raw_id_fields = ["commander", "integration"]
    filter_horizontal = ["impacted_services"]
    inlines = [TimelineInline]
    # Status and its instants change only through the lifecycle (API, UI), which validates and logs them.
    readonly_fields = [
        "uuid",
        "status",
        "triggered_at",
        "acknowledged_at",
        "mitigated_at",
        "resolved_at",
        "cancelled_at",
        "integration",
        "dedup_key",
        "reopen_count",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "service", "enabled", "token_prefix", "auto_resolve", "updated_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    readonly_fields = ["uuid", "token_prefix"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A token is shown once at creation: use `manage.py create_integration` or the API.
        return False


@admin.register(RawEvent)
class RawEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "integration", "action", "dedup_key", "processed_at", "attempts", "incident"]
    list_filter = ["action", "integration"]
    search_fields = ["dedup_key"]
    date_hierarchy = "received_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
