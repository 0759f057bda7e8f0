"""Serializers of the maintenance API. Writes go through maintenance.services."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from opsgov.api.fields import AwareDateTimeField
from opsgov.api.strict import StrictModelSerializer, StrictSerializer
from opsgov.models import Service

from ..models import (
    ApprovalReason,
    ChangeApproval,
    ChangeIncidentLink,
    ChangeIntegration,
    ChangeOutcome,
    ChangeRecord,
    ChangeState,
    ChangeTemplate,
    Component,
    FreezePeriod,
    Host,
    MaintenanceAutomation,
    MaintenanceLog,
    MaintenanceWindow,
    PatchObligation,
    UpgradePlan,
)
from ..services import missing_approvals


def _name(user: Any) -> str | None:
    return None if user is None else str(user)


def _services(**extra: Any) -> serializers.SlugRelatedField[Service]:
    return serializers.SlugRelatedField(
        slug_field="slug", queryset=Service.objects.all(), many=True, help_text="Service slugs.", **extra
    )


class WindowSerializer(StrictModelSerializer):
    """A maintenance window; active once a Product Owner approved it (`approved_at`) and while not withdrawn.
    Editing its timing or services (PATCH) withdraws the approval until a Product Owner approves it again."""

    services = _services()
    first_start = AwareDateTimeField(help_text="The first start; its wall time in `timezone` repeats.")
    approved_by = serializers.SerializerMethodField(help_text="Who approved it; null until approved.")
    withdrawn_by = serializers.SerializerMethodField(help_text="Who withdrew it; null unless withdrawn.")
    active = serializers.BooleanField(source="is_active", read_only=True)

    @extend_schema_field({"type": "string", "nullable": True})
    def get_approved_by(self, window: MaintenanceWindow) -> str | None:
        return _name(window.approved_by)

    @extend_schema_field({"type": "string", "nullable": True})
    def get_withdrawn_by(self, window: MaintenanceWindow) -> str | None:
        return _name(window.withdrawn_by)

    class Meta:
        model = MaintenanceWindow
        fields = [
            "uuid",
            "name",
            "services",
            "kind",
            "first_start",
            "rrule",
            "cron",
            "timezone",
            "duration",
            "notes",
            "approved_by",
            "approved_at",
            "active",
            "withdrawn_by",
            "withdrawn_at",
            "withdraw_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "uuid",
            "approved_by",
            "approved_at",
            "active",
            "withdrawn_by",
            "withdrawn_at",
            "withdraw_reason",
            "created_at",
            "updated_at",
        ]


class WithdrawSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000, help_text="Why the window is withdrawn.")


class ChangeTemplateSerializer(StrictModelSerializer):
    """A standard-change template: pre-approved once (Tech Lead; Security Lead for security patches), then
    changes created from it (POST /changes/ with `template`) need no authorisation step."""

    services = _services()
    approved_by = serializers.SerializerMethodField(help_text="Who approved it; null until approved.")
    usable = serializers.BooleanField(read_only=True)

    @extend_schema_field({"type": "string", "nullable": True})
    def get_approved_by(self, template: ChangeTemplate) -> str | None:
        return _name(template.approved_by)

    class Meta:
        model = ChangeTemplate
        fields = [
            "uuid",
            "name",
            "description",
            "category",
            "risk",
            "backout_plan",
            "services",
            "approved_by",
            "approved_at",
            "retired_at",
            "usable",
            "created_at",
        ]
        read_only_fields = ["uuid", "approved_by", "approved_at", "retired_at", "usable", "created_at"]


class AutomationSerializer(StrictModelSerializer):
    """A job that does a maintenance activity and reports by pinging `ping_url` (/start, /fail, exit status)."""

    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all())
    ping_url = serializers.SerializerMethodField(help_text="Where the job pings (the healthchecks.io grammar).")

    def get_ping_url(self, automation: MaintenanceAutomation) -> str:
        path = f"/ping/{automation.uuid}"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    class Meta:
        model = MaintenanceAutomation
        fields = [
            "uuid",
            "name",
            "service",
            "activity",
            "enabled",
            "ping_url",
            "started_at",
            "last_ping_at",
            "n_pings",
            "created_at",
        ]
        read_only_fields = ["uuid", "enabled", "ping_url", "started_at", "last_ping_at", "n_pings", "created_at"]


class FreezeSerializer(StrictModelSerializer):
    """A freeze: one-off (starts_at, ends_at) or a cron pair (freeze_start, freeze_end) in `timezone`."""

    services = _services(required=False)
    starts_at = AwareDateTimeField(required=False, allow_null=True)
    ends_at = AwareDateTimeField(required=False, allow_null=True)

    class Meta:
        model = FreezePeriod
        fields = [
            "uuid",
            "name",
            "services",
            "kind",
            "starts_at",
            "ends_at",
            "freeze_start",
            "freeze_end",
            "timezone",
            "reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["uuid", "kind", "created_at", "updated_at"]


class ApprovalSerializer(serializers.ModelSerializer):
    approved_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField()

    class Meta:
        model = ChangeApproval
        fields = ["reason", "role", "approved_by", "approved_at", "comment"]
        read_only_fields = fields


class IncidentLinkSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChangeIncidentLink
        fields = ["incident_id", "incident_label", "incident_url", "triggered_at"]
        read_only_fields = fields


class ChangeSerializer(StrictModelSerializer):
    """A change record. State, flags and actual times are written by the actions, not by edits."""

    services = _services(required=False)
    number = serializers.CharField(read_only=True)
    planned_start = AwareDateTimeField(required=False, allow_null=True)
    planned_end = AwareDateTimeField(required=False, allow_null=True)
    approvals = ApprovalSerializer(many=True, read_only=True)
    incident_links = IncidentLinkSerializer(many=True, read_only=True)
    missing_approvals = serializers.SerializerMethodField()
    window: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="uuid", read_only=True, allow_null=True
    )
    outcome = serializers.ChoiceField(choices=ChangeOutcome.choices, allow_blank=True, read_only=True)
    template = serializers.SlugRelatedField(
        slug_field="uuid",
        queryset=ChangeTemplate.objects.all(),
        required=False,
        allow_null=True,
        help_text="A pre-approved standard-change template: the change is standard and needs no authorisation.",
    )

    class Meta:
        model = ChangeRecord
        fields = [
            "uuid",
            "number",
            "template",
            "title",
            "description",
            "kind",
            "category",
            "state",
            "services",
            "window",
            "risk",
            "backout_plan",
            "planned_start",
            "planned_end",
            "actual_start",
            "actual_end",
            "outcome",
            "outside_window",
            "in_freeze",
            "budget_spent",
            "source",
            "external_id",
            "links",
            "sender_timestamp",
            "approvals",
            "missing_approvals",
            "incident_links",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "uuid",
            "number",
            "state",
            "window",
            "actual_start",
            "actual_end",
            "outcome",
            "outside_window",
            "in_freeze",
            "budget_spent",
            "source",
            "external_id",
            "links",
            "sender_timestamp",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"title": {"required": False}}

    def get_missing_approvals(self, change: ChangeRecord) -> list[str]:
        return missing_approvals(change)


class AdvanceSerializer(StrictSerializer):
    state = serializers.ChoiceField(choices=ChangeState.choices)
    outcome = serializers.ChoiceField(choices=ChangeOutcome.choices, required=False)


class ApproveChangeSerializer(StrictSerializer):
    reason = serializers.ChoiceField(choices=ApprovalReason.choices)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class ChangeIntegrationSerializer(StrictModelSerializer):
    """A change integration; `routing_key` is shown once, in the answer that creates it."""

    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all())
    routing_key = serializers.SerializerMethodField(help_text="Only in the answer to the creation; null after.")

    class Meta:
        model = ChangeIntegration
        fields = ["uuid", "name", "service", "enabled", "token_prefix", "routing_key", "created_at"]
        read_only_fields = ["uuid", "enabled", "token_prefix", "routing_key", "created_at"]

    @extend_schema_field({"type": "string", "nullable": True})
    def get_routing_key(self, integration: ChangeIntegration) -> str | None:
        return getattr(integration, "new_token", None)


class LogSerializer(StrictModelSerializer):
    """A piece of maintenance performed (an activity of the policy), by a person or by automation."""

    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all())
    performed_at = AwareDateTimeField()
    change = serializers.SlugRelatedField(
        slug_field="uuid", queryset=ChangeRecord.objects.all(), required=False, allow_null=True
    )
    performed_by = serializers.SerializerMethodField(help_text="Who logged it; null for automation.")
    duration_flag = serializers.ChoiceField(
        choices=[("short", "Shorter than the policy's range"), ("long", "Longer")], allow_blank=True, read_only=True
    )

    @extend_schema_field({"type": "string", "nullable": True})
    def get_performed_by(self, log: MaintenanceLog) -> str | None:
        return _name(log.performed_by)

    class Meta:
        model = MaintenanceLog
        fields = [
            "id",
            "service",
            "activity",
            "performed_at",
            "duration",
            "outcome",
            "notes",
            "change",
            "source",
            "performed_by",
            "duration_flag",
            "created_at",
        ]
        read_only_fields = ["id", "performed_by", "duration_flag", "created_at"]


class HostSerializer(StrictModelSerializer):
    """A host that reports its patch state; `token` is shown once, in the answer that creates it."""

    service = serializers.SlugRelatedField(
        slug_field="slug", queryset=Service.objects.all(), required=False, allow_null=True
    )
    token = serializers.SerializerMethodField(help_text="Only in the answer to the creation; null after.")

    class Meta:
        model = Host
        fields = [
            "uuid",
            "name",
            "service",
            "timezone",
            "token_prefix",
            "token",
            "last_report_at",
            "pending_count",
            "reboot_required",
            "kernel_status",
            "stale_services",
            "created_at",
        ]
        read_only_fields = [
            "uuid",
            "token_prefix",
            "token",
            "last_report_at",
            "pending_count",
            "reboot_required",
            "kernel_status",
            "stale_services",
            "created_at",
        ]

    @extend_schema_field({"type": "string", "nullable": True})
    def get_token(self, host: Host) -> str | None:
        return getattr(host, "new_token", None)


class ObligationSerializer(serializers.ModelSerializer):
    service: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )

    class Meta:
        model = PatchObligation
        fields = [
            "id",
            "asset",
            "service",
            "source",
            "package",
            "version",
            "installed_version",
            "patch_class",
            "published_at",
            "first_detected_at",
            "due_at",
            "met_at",
            "exception_until",
            "exception_reason",
        ]
        read_only_fields = fields


_SURROGATE = re.compile("[\ud800-\udfff]")


def no_surrogates(value: str) -> None:
    """DRF's ProhibitSurrogateCharactersValidator (same message and code), with a regular expression instead of a
    Python loop over every character: a report carries tens of kilobytes."""
    found = _SURROGATE.search(value)
    if found:
        code = ProhibitSurrogateCharactersValidator.code
        message = ProhibitSurrogateCharactersValidator.message.format(code_point=ord(found.group()))
        raise serializers.ValidationError(message, code=code)


class RawTextField(serializers.CharField):
    """A tool's raw output: kept as sent (no trimming), checked for surrogates by ``no_surrogates``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        self.validators = [
            no_surrogates if isinstance(v, ProhibitSurrogateCharactersValidator) else v for v in self.validators
        ]


class PatchReportSerializer(StrictSerializer):
    """What the shipped script posts (multipart form or JSON): the tools' raw output."""

    apt_simulate = RawTextField(allow_blank=True, max_length=2_000_000, help_text="`apt-get -s dist-upgrade`.")
    history = RawTextField(
        required=False,
        allow_blank=True,
        max_length=5_000_000,
        help_text="The new stanzas of /var/log/apt/history.log.",
    )
    needrestart = RawTextField(required=False, allow_blank=True, max_length=200_000, help_text="`needrestart -b`.")
    reboot_required = serializers.ChoiceField(
        choices=["yes", "no", "unknown"],
        required=False,
        default="unknown",
        help_text="Whether /run/reboot-required exists (unknown: a container).",
    )
    reboot_packages = serializers.CharField(required=False, allow_blank=True, max_length=200_000)
    timezone = serializers.CharField(required=False, allow_blank=True, max_length=64)
    hostname = serializers.CharField(required=False, allow_blank=True, max_length=255)


class PatchReportAnswerSerializer(serializers.Serializer):
    host = serializers.CharField()
    received_at = serializers.DateTimeField()
    pending = serializers.IntegerField()
    security = serializers.IntegerField()
    installed = serializers.IntegerField()
    reboot_required = serializers.BooleanField(allow_null=True)


class RenovateReportSerializer(StrictSerializer):
    service = serializers.SlugRelatedField(
        slug_field="slug", queryset=Service.objects.all(), required=False, allow_null=True
    )
    report = serializers.JSONField(help_text="Renovate's reportType=file JSON.")


class ComponentSerializer(StrictModelSerializer):
    """A component a service runs, at a version (held against the imported end-of-life table)."""

    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all())

    class Meta:
        model = Component
        fields = ["id", "service", "product", "version", "source", "created_at", "updated_at"]
        read_only_fields = ["id", "source", "created_at", "updated_at"]


class EolImportSerializer(StrictSerializer):
    product = serializers.CharField(max_length=120)
    cycles = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=500,
        help_text="The end-of-life table: [{cycle, releaseDate, eol (a date or true/false), latest}].",
    )


class UpgradePlanSerializer(StrictModelSerializer):
    """An upgrade plan of a component near its end of life; a Tech Lead approves it."""

    component = serializers.PrimaryKeyRelatedField(queryset=Component.objects.all())
    owner = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(is_active=True))
    approved_by = serializers.SerializerMethodField(help_text="Who approved it; null until approved.")

    @extend_schema_field({"type": "string", "nullable": True})
    def get_approved_by(self, plan: UpgradePlan) -> str | None:
        return _name(plan.approved_by)

    class Meta:
        model = UpgradePlan
        fields = [
            "uuid",
            "component",
            "target_version",
            "owner",
            "due_date",
            "notes",
            "approved_by",
            "approved_at",
            "created_at",
        ]
        read_only_fields = ["uuid", "approved_by", "approved_at", "created_at"]
