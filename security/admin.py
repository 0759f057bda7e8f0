"""Admin of security operations: read-only (records change through imports, the API and pages), CSV export.

Scans, findings and risk acceptances are evidence (opsgov.evidence): never deleted. Assets and
mapping rules are configuration the Security Lead may edit here too.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from opsgov.admin_export import CsvExportMixin, ReadOnlyCsvAdmin

from .models import Asset, AssetMappingRule, Component, Finding, RiskAcceptance, Scan


@admin.register(Asset)
class AssetAdmin(CsvExportMixin, admin.ModelAdmin):
    list_display = ["name", "kind", "service", "owner", "last_scanned_at"]
    list_filter = ["kind", "service"]
    search_fields = ["name"]
    readonly_fields = ["last_scanned_at"]


@admin.register(AssetMappingRule)
class AssetMappingRuleAdmin(CsvExportMixin, admin.ModelAdmin):
    list_display = ["pattern", "service", "kind", "priority"]


@admin.register(Scan)
class ScanAdmin(ReadOnlyCsvAdmin):
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
class FindingAdmin(ReadOnlyCsvAdmin):
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
class RiskAcceptanceAdmin(ReadOnlyCsvAdmin):
    list_display = ["finding", "requested_by", "approver", "approved_at", "expires_at", "revoked_at"]


@admin.register(Component)
class ComponentAdmin(CsvExportMixin, admin.ModelAdmin):
    list_display = ["name", "version", "ecosystem", "asset", "recorded_at"]
    search_fields = ["name", "purl"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
