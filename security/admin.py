"""Admin of security operations: read-only (records change through imports, the API and pages), CSV export.

Scans, findings and risk acceptances are evidence (opsgov.evidence): never deleted. Assets and
mapping rules are configuration the Security Lead may edit here too.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from opsgov.admin_export import CsvExportMixin, ReadOnlyCsvAdmin

from .models import (
    AccessReviewCampaign,
    AccessReviewNotice,
    Assessment,
    AssessmentFinding,
    Asset,
    AssetMappingRule,
    Component,
    Course,
    Finding,
    ReviewedAccount,
    RiskAcceptance,
    Scan,
    TrainingRecord,
)


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


# Access reviews, training and assessments: changed through the pages and the API (services), read and
# exported here (ReviewedAccount, TrainingRecord and the campaigns are evidence).


@admin.register(AccessReviewCampaign)
class AccessReviewCampaignAdmin(ReadOnlyCsvAdmin):
    list_display = ["title", "status", "opened_at", "due_at", "closed_at", "closed_by", "escalated_at"]
    list_filter = ["status"]
    search_fields = ["title"]


@admin.register(ReviewedAccount)
class ReviewedAccountAdmin(ReadOnlyCsvAdmin):
    list_display = [
        "campaign",
        "system",
        "account",
        "person",
        "entitlements",
        "last_login",
        "decision",
        "remove_entitlements",
        "decided_by",
        "decided_at",
        "applied_at",
        "apply_result",
    ]
    list_filter = ["decision", "system", "campaign"]
    search_fields = ["account", "person"]


@admin.register(AccessReviewNotice)
class AccessReviewNoticeAdmin(ReadOnlyCsvAdmin):
    list_display = ["subject", "campaign", "undecided", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["status"]


@admin.register(Course)
class CourseAdmin(ReadOnlyCsvAdmin):
    list_display = ["title", "slug", "audience", "recurrence", "due_within_days", "starts_at", "active"]
    list_filter = ["audience", "active"]
    search_fields = ["title", "slug"]


@admin.register(TrainingRecord)
class TrainingRecordAdmin(ReadOnlyCsvAdmin):
    list_display = ["course", "user", "completed_at", "source", "recorded_by", "note"]
    list_filter = ["source", "course"]
    search_fields = ["user__username", "user__email", "course__slug"]


@admin.register(Assessment)
class AssessmentAdmin(ReadOnlyCsvAdmin):
    list_display = ["title", "kind", "asset", "performed_by", "started_on", "completed_on"]
    list_filter = ["kind"]
    search_fields = ["title", "performed_by", "asset__name"]


@admin.register(AssessmentFinding)
class AssessmentFindingAdmin(ReadOnlyCsvAdmin):
    list_display = ["assessment", "reference", "finding"]
    search_fields = ["reference", "finding__vulnerability_id"]
