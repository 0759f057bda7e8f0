"""Serializers of the compliance API: read shapes, and the strict bodies of its actions."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from opsgov.api.fields import AwareDateTimeField
from opsgov.api.strict import StrictSerializer

from ..importers import MAX_DOCUMENT_BYTES
from ..models import Audit, ComplianceException, Control, EvidenceFile, Finding, FindingStatus, Framework
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
