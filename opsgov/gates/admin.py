"""Admin pages of waivers and status-change emails: read-only (compliance reads them; changes go
through the gate page or the API, where the approval rules live)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ..models import GateNotification, GateWaiver


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(GateWaiver)
class GateWaiverAdmin(ReadOnlyAdmin):
    list_display = ["id", "gate", "evidence_key", "service", "state_label", "requested_by", "approver", "expires_at"]
    list_filter = ["gate", "service"]
    search_fields = ["evidence_key", "reason", "compensating_control"]
    list_select_related = ["service", "requested_by", "approver"]
    date_hierarchy = "created_at"

    @admin.display(description="State")
    def state_label(self, waiver: GateWaiver) -> str:
        return str(waiver.state.label)


@admin.register(GateNotification)
class GateNotificationAdmin(ReadOnlyAdmin):
    list_display = ["id", "gate", "destination", "status", "attempts", "sent_at", "created_at"]
    # The outbox's columns (opsgov.models.OutboxMessage) in the order the page always showed them.
    fields = [
        *("gate", "evaluation", "previous_evaluation", "recipient", "team", "destination"),
        *("status", "attempts", "next_attempt_at", "sent_at", "last_error"),
    ]
    list_filter = ["gate", "status"]
    search_fields = ["destination"]
