"""Admin of the alert-rule catalog and runbooks (imported by monitoring.admin).

Rules come from rule files (``manage.py import_alert_rules`` or the API): the
admin shows them read-only, except the hand-linked runbook. Runbooks are
edited here like on their pages; a review is recorded on the runbook's page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ..models import AlertRule, RuleFile, RuleGroup, Runbook
from .services import alert_rule_link_runbook


@admin.register(Runbook)
class RunbookAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "owner", "last_reviewed_at", "last_reviewed_by", "updated_at"]
    list_filter = ["services"]
    search_fields = ["title", "slug", "body"]
    list_select_related = ["owner", "last_reviewed_by"]
    prepopulated_fields = {"slug": ("title",)}
    filter_horizontal = ["services"]
    raw_id_fields = ["owner"]
    readonly_fields = ["last_reviewed_by"]


class RuleGroupInline(admin.TabularInline):
    model = RuleGroup
    extra = 0
    can_delete = False
    fields = ["name", "interval", "position", "recording_rule_count"]
    readonly_fields = ["name", "interval", "position", "recording_rule_count"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RuleFile)
class RuleFileAdmin(admin.ModelAdmin):
    list_display = ["name", "imported_at", "imported_by", "recording_rule_count"]
    search_fields = ["name"]
    readonly_fields = ["name", "sha256", "content", "imported_at", "imported_by", "recording_rule_count"]
    inlines = [RuleGroupInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Files come in through the importer, which validates them.
        return False


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "group", "severity", "service", "runbook", "runbook_url"]
    list_filter = ["severity", "service", "group__rule_file"]
    search_fields = ["name", "expr"]
    list_select_related = ["group__rule_file", "service", "runbook"]
    raw_id_fields = ["runbook"]
    readonly_fields = [
        "group",
        "name",
        "expr",
        "for_duration",
        "keep_firing_for",
        "labels",
        "annotations",
        "severity",
        "severity_label",
        "service",
        "service_label",
        "runbook_url",
        "runbook_linked_by_hand",
        "position",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: AlertRule, form: Any, change: bool) -> None:
        alert_rule_link_runbook(rule=obj, runbook=obj.runbook)
