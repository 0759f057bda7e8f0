"""Serializers of the compliance API: read shapes, and the strict bodies of its actions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from opsgov.api.fields import AwareDateTimeField
from opsgov.api.strict import StrictSerializer

from ..importers import MAX_DOCUMENT_BYTES
from ..models import (
    Audit,
    ChangeStatus,
    ComplianceException,
    Control,
    EvidenceFile,
    Finding,
    FindingStatus,
    Framework,
    RegulatoryChange,
    RegulatoryTask,
)
from ..selectors import control_evidence


class FrameworkSerializer(serializers.ModelSerializer):
    requirements = serializers.IntegerField(source="requirements.count", read_only=True)

    class Meta:
        model = Framework
        fields = [
            "id",
            "slug",
            "version",
            "title",
            "source",
            "source_uuid",
            "document_sha256",
            "is_active",
            "requirements",
            "created_at",
        ]


class FrameworkImportSerializer(StrictSerializer):
    filename = serializers.RegexField(r"^[\w.\-]{1,200}\.(json|ya?ml)$", help_text="Its extension says the format.")
    content = serializers.CharField(max_length=MAX_DOCUMENT_BYTES, trim_whitespace=False, help_text="The document.")
    slug = serializers.SlugField(max_length=100, required=False, default="")


class FrameworkImportResultSerializer(serializers.Serializer):
    created = serializers.BooleanField()
    requirements = serializers.IntegerField()
    framework = FrameworkSerializer()


class LiveEvidenceSerializer(serializers.Serializer):
    provider = serializers.CharField()
    scope = serializers.CharField()
    state = serializers.CharField()
    record = serializers.CharField(allow_null=True)
    recorded_at = serializers.DateTimeField(allow_null=True)
    link = serializers.CharField()


class ControlSerializer(serializers.ModelSerializer):
    requirements: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="ref_id"
    )
    evidence_current = serializers.SerializerMethodField()
    live_evidence = serializers.SerializerMethodField()

    class Meta:
        model = Control
        fields = [
            "id",
            "ref_id",
            "title",
            "description",
            "owner",
            "test_frequency",
            "status",
            "is_key",
            "requirements",
            "evidence_current",
            "live_evidence",
        ]

    def _evidence(self, control: Control) -> Any:
        cache = self.context.setdefault("_evidence", {})
        if control.pk not in cache:
            cache[control.pk] = control_evidence([control], now=timezone.now())[0]
        return cache[control.pk]

    def get_evidence_current(self, control: Control) -> bool:
        return bool(self._evidence(control).is_current)

    @extend_schema_field(LiveEvidenceSerializer(many=True))
    def get_live_evidence(self, control: Control) -> list[dict[str, Any]]:
        return [
            {
                "provider": binding.provider,
                "scope": binding.scope,
                "state": str(reading.freshness),
                "record": reading.record.label if reading.record else None,
                "recorded_at": reading.record.recorded_at if reading.record else None,
                "link": reading.record.url if reading.record else "",
            }
            for binding, reading in self._evidence(control).readings
        ]


class EvidenceFileSerializer(serializers.ModelSerializer):
    class Meta:
        model = EvidenceFile
        fields = [
            "id",
            "control",
            "title",
            "original_name",
            "size",
            "sha256",
            "effective_date",
            "expires_on",
            "state",
            "revision",
            "previous",
            "uploaded_by",
            "reviewed_by",
            "reviewed_at",
            "created_at",
        ]


class AuditSerializer(serializers.ModelSerializer):
    class Meta:
        model = Audit
        fields = [
            "id",
            "title",
            "kind",
            "framework",
            "period_start",
            "period_end",
            "lead_auditor",
            "status",
            "completed_at",
        ]


class FindingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Finding
        fields = [
            "id",
            "audit",
            "control",
            "title",
            "description",
            "severity",
            "owner",
            "identified_at",
            "due_at",
            "status",
            "remediated_by",
            "verified_by",
            "escalated_at",
            "oscal_uuid",
        ]


class FindingAdvanceSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=[choice for choice in FindingStatus.choices if choice[0] != "identified"])


class ExceptionSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField()
    justification = serializers.CharField(source="reason", read_only=True)
    expires_at = AwareDateTimeField(read_only=True)

    class Meta:
        model = ComplianceException
        fields = [
            "id",
            "title",
            "control",
            "requirement",
            "service",
            "justification",
            "compensating_control",
            "requested_by",
            "approver",
            "approver_role",
            "approved_at",
            "expires_at",
            "revoked_at",
            "state",
        ]

    def get_state(self, exception: ComplianceException) -> str:
        return str(exception.state)


class ResultsImportSerializer(StrictSerializer):
    content = serializers.CharField(
        max_length=MAX_DOCUMENT_BYTES,
        trim_whitespace=False,
        help_text="An OSCAL 1.1 assessment-results document (JSON).",
    )
    audit = serializers.PrimaryKeyRelatedField(
        queryset=Audit.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="The audit the findings belong to (optional).",
    )


class ResultsImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="Findings created by this import.")
    unchanged = serializers.IntegerField(help_text="Not-satisfied findings imported before (nothing changed).")
    findings = FindingSerializer(many=True, help_text="The findings created.")


class RegulatoryTaskSerializer(serializers.ModelSerializer):
    class Meta:
        model = RegulatoryTask
        fields = ["id", "change", "description", "owner", "due_on", "done_at", "reminded_at"]
        read_only_fields = fields


class RegulatoryChangeSerializer(serializers.ModelSerializer):
    tasks = RegulatoryTaskSerializer(many=True, read_only=True)

    class Meta:
        model = RegulatoryChange
        fields = [
            "id",
            "title",
            "source",
            "summary",
            "effective_date",
            "impact_assessment",
            "affected_controls",
            "status",
            "tasks",
            "created_at",
        ]
        read_only_fields = fields


class RegulatoryChangeCreateSerializer(StrictSerializer):
    title = serializers.CharField(max_length=300)
    source = serializers.CharField(max_length=300)  # type: ignore[assignment]  # a declared field, popped by DRF
    summary = serializers.CharField()
    effective_date = serializers.DateField()
    impact_assessment = serializers.CharField(required=False, default="", allow_blank=True)
    affected_controls = serializers.PrimaryKeyRelatedField(
        queryset=Control.objects.all(), many=True, required=False, default=list
    )


class RegulatoryAssessSerializer(StrictSerializer):
    impact_assessment = serializers.CharField()
    affected_controls = serializers.PrimaryKeyRelatedField(queryset=Control.objects.all(), many=True, required=False)


class RegulatoryStatusSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=[choice for choice in ChangeStatus.choices if choice[0] != "new"])


class RegulatoryTaskCreateSerializer(StrictSerializer):
    description = serializers.CharField(max_length=500)
    owner = serializers.PrimaryKeyRelatedField(queryset=get_user_model().objects.filter(is_active=True))
    due_on = serializers.DateField()
