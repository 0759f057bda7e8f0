"""Admin for SLOs (status read-only beside them; SLI buckets never inlined: there are 43,200 a month each)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from ..models import SLO, SLOAlertState, SLOEngineState, SLOStatus
from . import engine, services

_ALERT_STATE_FIELDS = ("key", "firing", "severity", "changed_at", "long_burn_rate", "short_burn_rate")


class ReadOnlyAdminMixin:
    """Records the SLO engine writes: shown, never edited by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SLOStatusInline(ReadOnlyAdminMixin, admin.StackedInline):
    model = SLOStatus
    fields = engine.STATUS_FIELDS
    readonly_fields = engine.STATUS_FIELDS
    can_delete = False
    extra = 0


class SLOAlertStateInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SLOAlertState
    fields = _ALERT_STATE_FIELDS
    readonly_fields = _ALERT_STATE_FIELDS
    extra = 0


@admin.register(SLO)
class SLOAdmin(admin.ModelAdmin):
    list_display = ["name", "service", "objective_percent", "window_kind", "window_days", "source", "enabled"]
    list_filter = ["enabled", "sli_kind", "window_kind", "source", "is_availability"]
    search_fields = ["name", "description", "service__name", "service__slug"]
    list_select_related = ["service"]
    readonly_fields = ["uuid", "last_sli_at", "created_at", "updated_at"]
    # SLI buckets are deliberately not an inline: tens of thousands per SLO.
    inlines = [SLOStatusInline, SLOAlertStateInline]

    def save_model(self, request: HttpRequest, obj: SLO, form: Any, change: bool) -> None:
        """Through the services, so disabling or moving an SLO resolves its firing alerts."""
        data = {name: getattr(obj, name) for name in services.SLO_FIELDS}
        if change:
            saved = services.slo_update(slo=SLO.objects.get(pk=obj.pk), data=data)
        else:
            saved = services.slo_create(**data)
        obj.pk, obj.uuid = saved.pk, saved.uuid
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: SLO) -> None:
        services.slo_delete(slo=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[SLO]) -> None:
        for slo in queryset:
            services.slo_delete(slo=slo)


@admin.register(SLOStatus)
class SLOStatusAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["slo", "evaluated_at", "sli_percent", "budget_remaining", "firing"]
    list_select_related = ["slo", "slo__service"]
    search_fields = ["slo__name", "slo__service__name"]
    readonly_fields = ("slo", *engine.STATUS_FIELDS)


@admin.register(SLOAlertState)
class SLOAlertStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["slo", *_ALERT_STATE_FIELDS]
    list_filter = ["firing", "key", "severity"]
    list_select_related = ["slo", "slo__service"]
    search_fields = ["slo__name", "title"]


@admin.register(SLOEngineState)
class SLOEngineStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["evaluated_at", "last_slos", "last_hours", "last_full", "last_seconds", "built_at"]
