"""Admin pages of waivers and status-change emails: read-only (compliance reads them; changes go
through the gate page or the API, where the approval rules live)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import mark_safe

from ..models import ORGANISATION_WIDE, GateNotification, GateWaiver


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class WaiverServiceFilter(admin.RelatedFieldListFilter):
    """The service filter, whose choice for waivers without a service reads "organisation-wide"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.empty_value_display = mark_safe(ORGANISATION_WIDE)  # noqa: S308  (a constant, no markup)


@admin.register(GateWaiver)
class GateWaiverAdmin(ReadOnlyAdmin):
    list_display = [
        *("id", "gate", "evidence_key", "service_label", "state_label"),
        *("requested_by", "approver", "expires_at"),
    ]
    # The model's columns, with the service shown as "organisation-wide" when there is none.
    fields = [
        *("gate", "evidence_key", "service_label", "reason", "compensating_control"),
        *("requested_by", "approver", "approved_at", "expires_at", "revoked_at", "revoked_by", "revoke_reason"),
        *("created_at", "updated_at"),
    ]
    readonly_fields = ["service_label", "created_at", "updated_at"]
    list_filter = ["gate", ("service", WaiverServiceFilter)]
    search_fields = ["evidence_key", "reason", "compensating_control"]
    list_select_related = ["service", "requested_by", "approver"]
    date_hierarchy = "created_at"

    @admin.display(description="Service", ordering="service__slug")
    def service_label(self, waiver: GateWaiver) -> str:
        return waiver.service_label

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
