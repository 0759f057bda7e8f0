"""Admin site: teams and services, the audit trail (read-only, exportable as CSV), users (deactivated,
never deleted) and login attempts (django-axes; the Security Lead unlocks accounts there)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from auditlog.admin import LogEntryAdmin as BaseLogEntryAdmin
from auditlog.models import LogEntry
from axes.admin import AccessAttemptAdmin as BaseAccessAttemptAdmin
from axes.admin import AccessFailureLogAdmin as BaseAccessFailureLogAdmin
from axes.admin import AccessLogAdmin as BaseAccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import path, reverse

from . import lockout
from .evidence import EvidenceAdminMixin
from .gates import admin as gate_admin  # noqa: F401  (registers the waiver and gate notification pages)
from .models import GateEvaluation, MetricSnapshot, ReportDelivery, Service, Team

admin.site.site_header = "opsgov administration"
admin.site.site_title = "opsgov"


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "email", "updated_at"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "tier", "owner_team", "lifecycle", "updated_at"]
    list_filter = ["tier", "lifecycle", "owner_team"]
    search_fields = ["name", "slug", "description"]
    list_select_related = ["owner_team"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(GateEvaluation)
class GateEvaluationAdmin(EvidenceAdminMixin, admin.ModelAdmin):
    list_display = ["gate", "status", "reason", "evaluated_at"]
    list_filter = ["gate", "status"]
    date_hierarchy = "evaluated_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(MetricSnapshot)
class MetricSnapshotAdmin(EvidenceAdminMixin, admin.ModelAdmin):
    list_display = ["metric", "scope", "window", "value", "sample_size", "computed_at"]
    list_filter = ["metric", "window"]
    search_fields = ["scope"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _Echo:
    def write(self, value: str) -> str:
        return value


AUDIT_CSV_HEADER = [
    "timestamp",
    "event",
    "actor",
    "action",
    "object_type",
    "object_id",
    "object",
    "field",
    "before",
    "after",
    "remote_addr",
]


def _before_after(values: Any) -> tuple[Any, Any]:
    """A field's change as (before, after); a many-to-many change (auditlog's m2m_fields) says what
    was added to, removed from or cleared out of the set."""
    if isinstance(values, list):
        before, after = ([*values, None, None])[:2]
        return before, after
    if isinstance(values, dict) and values.get("type") == "m2m":
        objects = ", ".join(str(item) for item in values.get("objects") or [])
        operation = values.get("operation")
        if operation == "add":
            return None, f"added: {objects}"
        if operation == "delete":
            return None, f"removed: {objects}"
        return None, "cleared" + (f": {objects}" if objects else "")
    return values, None


def audit_csv_rows(entries: QuerySet[LogEntry]) -> Iterator[list[str]]:
    """One CSV row per changed field of each entry (a delete or an empty change gives one row)."""
    yield AUDIT_CSV_HEADER
    for entry in entries.select_related("actor", "content_type").order_by("timestamp", "pk").iterator(chunk_size=2000):
        base = [
            entry.timestamp.isoformat(),
            str((entry.additional_data or {}).get("event", "")) if isinstance(entry.additional_data, dict) else "",
            str(entry.actor or ""),
            str(dict(LogEntry.Action.choices).get(entry.action, entry.action)),
            f"{entry.content_type.app_label}.{entry.content_type.model}",
            entry.object_pk,
            entry.object_repr,
        ]
        changes = entry.changes_dict or {}
        if not changes:
            yield [*base, "", "", "", entry.remote_addr or ""]
        for field, values in changes.items():
            before, after = _before_after(values)
            yield [
                *base,
                field,
                "" if before is None else str(before),
                "" if after is None else str(after),
                entry.remote_addr or "",
            ]


admin.site.unregister(LogEntry)


@admin.register(LogEntry)
class AuditTrailAdmin(EvidenceAdminMixin, BaseLogEntryAdmin):
    """The audit trail: read-only, filterable, exportable (the current filter) as CSV."""

    change_list_template = "admin/auditlog/logentry/change_list_export.html"
    actions = ["export_selected_csv"]

    def get_urls(self) -> list[Any]:
        return [
            path("export.csv", self.admin_site.admin_view(self.export_view), name="auditlog_logentry_export"),
            *super().get_urls(),
        ]

    def _csv_response(self, entries: QuerySet[LogEntry]) -> StreamingHttpResponse:
        writer = csv.writer(_Echo())
        response = StreamingHttpResponse(
            (writer.writerow(row) for row in audit_csv_rows(entries)), content_type="text/csv"
        )
        response["Content-Disposition"] = 'attachment; filename="opsgov-audit-trail.csv"'
        return response

    def export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """Export every entry the change list shows for the same filters and search."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        return self._csv_response(changelist.get_queryset(request))

    @admin.action(description="Export selected entries as CSV")
    def export_selected_csv(self, request: HttpRequest, queryset: QuerySet[LogEntry]) -> StreamingHttpResponse:
        return self._csv_response(queryset)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        extra_context = {**(extra_context or {}), "export_url": reverse("admin:auditlog_logentry_export")}
        return super().changelist_view(request, extra_context)


@admin.register(ReportDelivery)
class ReportDeliveryAdmin(admin.ModelAdmin):
    """Which scheduled report went to whom, when: read-only evidence that reports are sent."""

    list_display = ["kind", "period_start", "email", "status", "attempts", "sent_at"]
    # The outbox's columns (opsgov.models.OutboxMessage) in the order the page always showed them.
    fields = [
        "kind",
        "period_start",
        "period_end",
        "user",
        "email",
        "status",
        "attempts",
        "lease_until",
        "sent_at",
        "last_error",
    ]
    list_filter = ["kind", "status"]
    search_fields = ["email"]
    date_hierarchy = "period_start"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Users: deactivated, never deleted ----------------------------------------------------
User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class OpsgovUserAdmin(BaseUserAdmin):
    """Users are deactivated, not deleted: the audit trail and the evidence name them (their
    entries' actor would otherwise be erased). Every change here is audited (opsgov.apps)."""

    actions = ["deactivate_users"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Deactivate selected users (they can no longer log in)", permissions=["change"])
    def deactivate_users(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        count = 0
        for user in queryset.filter(is_active=True):
            user.is_active = False
            user.save(update_fields=["is_active"])  # one audited update per user
            count += 1
        self.message_user(request, f"{count} user(s) deactivated.", messages.SUCCESS)


# --- Login attempts (django-axes) ------------------------------------------------------
for _model in (AccessAttempt, AccessLog, AccessFailureLog):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(AccessAttempt)
class AccessAttemptAdmin(BaseAccessAttemptAdmin):
    """Failed-login counts per username; "Unlock" lifts a lockout and is audited (deleting is not offered)."""

    actions = ["unlock_accounts"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_unlock_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("axes.delete_accessattempt"))

    @admin.action(description="Unlock the selected accounts", permissions=["unlock"])
    def unlock_accounts(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        usernames = sorted({name for name in queryset.values_list("username", flat=True) if name})
        for username in usernames:
            lockout.unlock_account(username=username, actor=request.user, request=request, via="admin")
        self.message_user(request, f"Unlocked: {', '.join(usernames) or 'nobody'}.", messages.SUCCESS)


@admin.register(AccessLog)
class AccessLogAdmin(EvidenceAdminMixin, BaseAccessLogAdmin):
    """Logins and logouts as Axes saw them (read-only)."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AccessFailureLog)
class AccessFailureLogAdmin(EvidenceAdminMixin, BaseAccessFailureLogAdmin):
    """Every failed login (read-only)."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
