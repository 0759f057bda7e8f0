"""Admin of security operations: read-only (records change through imports, the API and pages), CSV export.

Scans, findings and risk acceptances are evidence (opsgov.evidence): never deleted. Assets and
mapping rules are configuration the Security Lead may edit here too.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse

from opsgov.evidence import EvidenceAdminMixin

from .models import Asset, AssetMappingRule, Component, Finding, RiskAcceptance, Scan


class _Echo:
    def write(self, value: str) -> str:
        return value


@admin.action(description="Export selected as CSV")
def export_csv(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> StreamingHttpResponse:
    """The selected rows' list columns as CSV (strings as shown, instants in ISO 8601)."""
    columns = [name for name in modeladmin.list_display if isinstance(name, str)]
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(columns)
        for obj in queryset.iterator():
            values = []
            for name in columns:
                value = getattr(obj, name)
                value = value() if callable(value) else value
                values.append(
                    value.isoformat() if hasattr(value, "isoformat") else str(value if value is not None else "")
                )
            yield writer.writerow(values)

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="opsgov-{modeladmin.model._meta.model_name}.csv"'
    return response


class _ReadOnly(EvidenceAdminMixin, admin.ModelAdmin):
    actions = [export_csv]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "service", "owner", "last_scanned_at"]
    list_filter = ["kind", "service"]
    search_fields = ["name"]
    readonly_fields = ["last_scanned_at"]
    actions = [export_csv]


@admin.register(AssetMappingRule)
class AssetMappingRuleAdmin(admin.ModelAdmin):
    list_display = ["pattern", "service", "kind", "priority"]
    actions = [export_csv]


@admin.register(Scan)
class ScanAdmin(_ReadOnly):
    list_display = [
        "id",
        "asset",
        "format",
        "imported_at",
        "reported_at",
        "findings_seen",
        "created",
        "fixed",
        "reopened",
    ]
    list_filter = ["format"]
    search_fields = ["asset__name", "report_sha256"]


@admin.register(Finding)
class FindingAdmin(_ReadOnly):
    list_display = [
        "vulnerability_id",
        "package_name",
        "package_version",
        "asset",
        "severity",
        "status",
        "first_seen_at",
        "due_at",
        "fixed_at",
    ]
    list_filter = ["severity", "status", "source"]
    search_fields = ["vulnerability_id", "package_name", "asset__name"]


@admin.register(RiskAcceptance)
class RiskAcceptanceAdmin(_ReadOnly):
    list_display = ["finding", "requested_by", "approver", "approved_at", "expires_at", "revoked_at"]


@admin.register(Component)
class ComponentAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "ecosystem", "asset", "recorded_at"]
    search_fields = ["name", "purl"]
    actions = [export_csv]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
