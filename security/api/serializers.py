"""Serializers of the security API (reads show the SLA state; writes are strict)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from opsgov.api.fields import AwareDateTimeField
from opsgov.api.strict import StrictModelSerializer, StrictSerializer
from opsgov.models import Service

from ..models import (
    AccessDecision,
    AccessReviewCampaign,
    Assessment,
    AssessmentFinding,
    Asset,
    AssetKind,
    AssetMappingRule,
    Component,
    Course,
    Disposition,
    Finding,
    FindingStatus,
    ReviewedAccount,
    RiskAcceptance,
    Scan,
    ScanFormat,
    SecurityAlert,
    Severity,
    TrainingRecord,
)

User = get_user_model()


class AssetSerializer(StrictModelSerializer):
    service = serializers.SlugRelatedField(
        slug_field="slug", queryset=Service.objects.all(), allow_null=True, required=False, help_text="Service slug."
    )
    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        allow_null=True,
        required=False,
        help_text="Username of who fixes its findings.",
    )

    class Meta:
        model = Asset
        fields = ["id", "name", "kind", "service", "owner", "description", "last_scanned_at", "created_at"]
        read_only_fields = ["id", "last_scanned_at", "created_at"]


class AssetMappingRuleSerializer(StrictModelSerializer):
    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all(), help_text="Service slug.")

    class Meta:
        model = AssetMappingRule
        fields = ["id", "pattern", "service", "kind", "priority", "created_at"]
        read_only_fields = ["id", "created_at"]


class ScanSerializer(serializers.ModelSerializer):
    asset = serializers.CharField(source="asset.name", read_only=True)
    imported_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Scan
        fields = [
            "id",
            "asset",
            "format",
            "scopes",
            "reported_at",
            "imported_at",
            "imported_by",
            "findings_seen",
            "created",
            "reopened",
            "fixed",
            "components",
            "report_sha256",
        ]
        read_only_fields = fields


class ScanDetailSerializer(ScanSerializer):
    report = serializers.JSONField(read_only=True, help_text="The report as received.")

    class Meta(ScanSerializer.Meta):
        fields = [*ScanSerializer.Meta.fields, "report"]
        read_only_fields = fields


class ScanImportQuerySerializer(StrictSerializer):
    """The query parameters of a scan import (the body is the report itself)."""

    asset = serializers.CharField(
        max_length=300, required=False, allow_blank=True, help_text="Asset name; default: the report's artifact name."
    )
    report_format = serializers.ChoiceField(
        choices=ScanFormat.choices, required=False, help_text="Default: detected (`format` is DRF's renderer choice)."
    )
    create_asset = serializers.BooleanField(required=False, default=False)
    service = serializers.SlugRelatedField(
        slug_field="slug", queryset=Service.objects.all(), required=False, help_text="Service of a created asset."
    )
    kind = serializers.ChoiceField(choices=AssetKind.choices, required=False)


class WebhookQuerySerializer(StrictSerializer):
    """The query parameters of the Dependabot webhook's URL (the asset of its alerts)."""

    asset = serializers.CharField(
        max_length=300, required=False, allow_blank=True, help_text="Asset name; default: the repository's name."
    )
    create_asset = serializers.BooleanField(required=False, default=False)
    service = serializers.SlugRelatedField(
        slug_field="slug", queryset=Service.objects.all(), required=False, help_text="Service of a created asset."
    )
    kind = serializers.ChoiceField(choices=AssetKind.choices, required=False)


class ScanImportResultSerializer(serializers.Serializer):
    created = serializers.BooleanField(help_text="False: this report was imported already; nothing changed.")
    scan = ScanSerializer()


@extend_schema_serializer(component_name="SecurityFinding")  # other apps have a "Finding" too
class FindingSerializer(serializers.ModelSerializer):
    asset = serializers.CharField(source="asset.name", read_only=True)
    service = serializers.SerializerMethodField()
    owner: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    overdue = serializers.SerializerMethodField(help_text="Past its SLA (open, or fixed late).")
    accepted = serializers.SerializerMethodField(help_text="A valid risk acceptance covers it now.")

    class Meta:
        model = Finding
        fields = [
            "id",
            "asset",
            "service",
            "vulnerability_id",
            "aliases",
            "package_key",
            "package_name",
            "package_version",
            "purl",
            "title",
            "severity",
            "severity_source",
            "fixed_versions",
            "published_at",
            "source",
            "status",
            "justification",
            "open_scopes",
            "first_seen_at",
            "last_seen_at",
            "fixed_at",
            "reopened_at",
            "reopen_count",
            "sla_started_at",
            "due_at",
            "overdue",
            "accepted",
            "owner",
        ]
        read_only_fields = fields

    #: The columns a representation reads (the list selects only these: ``QuerySet.only``).
    COLUMNS = (
        *(name for name in Meta.fields if name not in ("asset", "service", "overdue", "accepted", "owner")),
        "asset__name",
        "asset__service__slug",
        "owner__username",
    )

    def get_service(self, finding: Finding) -> str | None:
        service = finding.asset.service
        return service.slug if service is not None else None

    def get_overdue(self, finding: Finding) -> bool:
        return finding.is_overdue(self.context.get("now"))

    def get_accepted(self, finding: Finding) -> bool:
        return bool(getattr(finding, "accepted", False))

    def to_representation(self, finding: Finding) -> dict[str, Any]:
        """The fields above, written out: the same values DRF's field-by-field representation gives
        (tests/security/test_api.py compares the two), at a fraction of its cost per row, which is most
        of a findings page's time (50 rows of 28 fields)."""
        tz = timezone.get_current_timezone()

        def instant(value: Any) -> str | None:  # DRF's DateTimeField: in the current time zone, UTC as "Z"
            if not value:
                return None
            text: str = value.astimezone(tz).isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text

        asset, owner = finding.asset, finding.owner
        service = asset.service
        return {
            "id": finding.pk,
            "asset": asset.name,
            "service": service.slug if service is not None else None,
            "vulnerability_id": finding.vulnerability_id,
            "aliases": finding.aliases,
            "package_key": finding.package_key,
            "package_name": finding.package_name,
            "package_version": finding.package_version,
            "purl": finding.purl,
            "title": finding.title,
            "severity": str(finding.severity),
            "severity_source": finding.severity_source,
            "fixed_versions": finding.fixed_versions,
            "published_at": instant(finding.published_at),
            "source": str(finding.source),
            "status": str(finding.status),
            "justification": finding.justification,
            "open_scopes": finding.open_scopes,
            "first_seen_at": instant(finding.first_seen_at),
            "last_seen_at": instant(finding.last_seen_at),
            "fixed_at": instant(finding.fixed_at),
            "reopened_at": instant(finding.reopened_at),
            "reopen_count": finding.reopen_count,
            "sla_started_at": instant(finding.sla_started_at),
            "due_at": instant(finding.due_at),
            "overdue": finding.is_overdue(self.context.get("now")),
            "accepted": bool(getattr(finding, "accepted", False)),
            "owner": owner.username if owner is not None else None,
        }


@extend_schema_serializer(component_name="SecurityComponent")  # other apps have a "Component" too
class ComponentSerializer(serializers.ModelSerializer):
    asset = serializers.CharField(source="asset.name", read_only=True)
    service = serializers.SerializerMethodField()

    class Meta:
        model = Component
        fields = ["id", "asset", "service", "name", "version", "ecosystem", "purl", "recorded_at"]
        read_only_fields = fields

    def get_service(self, component: Component) -> str | None:
        service = component.asset.service
        return service.slug if service is not None else None


class RiskAcceptanceSerializer(serializers.ModelSerializer):
    requested_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    approver: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    revoked_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    state = serializers.SerializerMethodField()

    class Meta:
        model = RiskAcceptance
        fields = [
            "id",
            "finding",
            "reason",
            "compensating_control",
            "requested_by",
            "approver",
            "approved_at",
            "expires_at",
            "revoked_at",
            "revoked_by",
            "revoke_reason",
            "state",
            "created_at",
        ]
        read_only_fields = fields

    def get_state(self, acceptance: RiskAcceptance) -> str:
        return str(acceptance.state_at(timezone.now()))


class RiskAcceptanceRequestSerializer(StrictSerializer):
    finding = serializers.PrimaryKeyRelatedField(queryset=Finding.objects.all())
    reason = serializers.CharField(max_length=5000)
    compensating_control = serializers.CharField(max_length=5000)
    approver = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True), help_text="A Security Lead, not you."
    )
    expires_at = AwareDateTimeField(help_text="At most a year ahead.")


@extend_schema_serializer(component_name="RiskAcceptanceRevoke")  # other apps have a "Revoke" too
class RevokeSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class SecurityAlertSerializer(serializers.ModelSerializer):
    disposition = serializers.CharField(
        read_only=True, help_text="true_positive, benign or false_positive once closed; empty before."
    )
    service: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    acknowledged_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    closed_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = SecurityAlert
        fields = [
            "id",
            "source",
            "rule",
            "title",
            "priority",
            "severity",
            "output",
            "hostname",
            "service",
            "fields",
            "reported_at",
            "received_at",
            "status",
            "acknowledged_at",
            "acknowledged_by",
            "triaged_at",
            "closed_at",
            "closed_by",
            "disposition",
            "notes",
            "escalated_at",
            "escalation_key",
        ]
        read_only_fields = fields


class AlertTriageSerializer(StrictSerializer):
    notes = serializers.CharField(max_length=10_000, required=False, allow_blank=True, default="")
    service = serializers.SlugRelatedField(
        slug_field="slug", queryset=Service.objects.all(), required=False, help_text="Service slug."
    )


class AlertCloseSerializer(AlertTriageSerializer):
    disposition = serializers.ChoiceField(choices=Disposition.choices)


# --- Access reviews, training, assessments ---------------------------------------------------------


class AccessReviewCampaignSerializer(serializers.ModelSerializer):
    opened_by = serializers.CharField(source="opened_by.username", read_only=True)
    closed_by = serializers.CharField(source="closed_by.username", read_only=True, allow_null=True, default=None)
    total = serializers.IntegerField(read_only=True)
    decided = serializers.IntegerField(read_only=True)
    revoked = serializers.IntegerField(read_only=True)
    changed = serializers.IntegerField(read_only=True)

    class Meta:
        model = AccessReviewCampaign
        fields = [
            "id",
            "title",
            "status",
            "opened_at",
            "opened_by",
            "due_at",
            "closed_at",
            "closed_by",
            "escalated_at",
            "total",
            "decided",
            "revoked",
            "changed",
        ]
        read_only_fields = fields


class AccessReviewOpenSerializer(StrictSerializer):
    title = serializers.CharField(max_length=200)
    due_at = AwareDateTimeField(required=False, help_text="Default: security.access_review_due_within from now.")


class CsvBodySerializer(StrictSerializer):
    csv = serializers.CharField(trim_whitespace=False, max_length=10_000_000, help_text="The CSV text, header first.")


class ReviewedAccountSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True, allow_null=True, default=None)
    decided_by = serializers.CharField(source="decided_by.username", read_only=True, allow_null=True, default=None)
    decision = serializers.ChoiceField(
        choices=AccessDecision.choices, allow_blank=True, read_only=True, help_text="Empty until decided."
    )

    class Meta:
        model = ReviewedAccount
        fields = [
            "id",
            "campaign",
            "system",
            "account",
            "person",
            "user",
            "entitlements",
            "last_login",
            "line",
            "decision",
            "remove_entitlements",
            "comment",
            "decided_by",
            "decided_at",
            "applied_at",
            "apply_result",
        ]
        read_only_fields = fields


class AccessDecisionSerializer(StrictSerializer):
    decision = serializers.ChoiceField(choices=AccessDecision.choices)
    remove_entitlements = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, default=list, help_text="For a change."
    )
    comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)


class CourseSerializer(StrictModelSerializer):
    roles = serializers.SlugRelatedField(
        slug_field="name", queryset=Group.objects.all(), many=True, help_text="Role names that must take it."
    )

    class Meta:
        model = Course
        fields = [
            "id",
            "slug",
            "title",
            "audience",
            "roles",
            "recurrence",
            "due_within_days",
            "starts_at",
            "active",
            "url",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]


class TrainingRecordSerializer(serializers.ModelSerializer):
    course = serializers.SlugRelatedField(slug_field="slug", queryset=Course.objects.all())
    user = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all())
    recorded_by = serializers.CharField(source="recorded_by.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = TrainingRecord
        fields = ["id", "course", "user", "completed_at", "source", "recorded_by", "note", "created_at"]
        read_only_fields = ["id", "source", "recorded_by", "created_at"]


class TrainingRecordCreateSerializer(StrictSerializer):
    course = serializers.SlugRelatedField(slug_field="slug", queryset=Course.objects.all())
    user = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all())
    completed_at = AwareDateTimeField()
    note = serializers.CharField(required=False, default="", allow_blank=True, max_length=300)


class TrainingImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="Rows recorded already (same course, user and instant).")


class TrainingCompletionSerializer(serializers.Serializer):
    course = serializers.CharField()
    audience = serializers.CharField()
    role = serializers.CharField()
    assigned = serializers.IntegerField()
    completed = serializers.IntegerField()
    overdue = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)


class TrainingOverdueSerializer(serializers.Serializer):
    course = serializers.CharField(source="course.slug")
    user = serializers.CharField(source="user.username")
    role = serializers.CharField()
    due_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="SecurityAssessment")
class AssessmentSerializer(StrictModelSerializer):
    asset = serializers.SlugRelatedField(slug_field="name", queryset=Asset.objects.all(), help_text="Asset name.")

    class Meta:
        model = Assessment
        fields = [
            "id",
            "kind",
            "title",
            "asset",
            "performed_by",
            "started_on",
            "completed_on",
            "report_url",
            "summary",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]


class AssessmentFindingSerializer(serializers.ModelSerializer):
    finding = FindingSerializer(read_only=True)

    class Meta:
        model = AssessmentFinding
        fields = ["id", "assessment", "reference", "description", "recommendation", "finding"]
        read_only_fields = fields


class AssessmentFindingCreateSerializer(StrictSerializer):
    reference = serializers.CharField(max_length=40)
    title = serializers.CharField(max_length=500)
    severity = serializers.ChoiceField(choices=Severity.choices)
    owner = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    description = serializers.CharField(required=False, default="", allow_blank=True)
    recommendation = serializers.CharField(required=False, default="", allow_blank=True)


class AssessmentFindingStatusSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=FindingStatus.choices)
    justification = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)
