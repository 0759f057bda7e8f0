"""Serializers of the SLO API. Writes go through monitoring.slos.services (full_clean there)."""

from __future__ import annotations

from rest_framework import serializers

from opsgov.api.strict import StrictModelSerializer, StrictSerializer
from opsgov.models import Service

from ...models import SLO, SLOStatus
from .. import engine, services
from .schemas import MAX_BUCKETS


class SLOStatusSerializer(serializers.ModelSerializer):
    """The SLO engine's latest evaluation (see monitoring.engine for every definition)."""

    class Meta:
        model = SLOStatus
        fields = list(engine.STATUS_FIELDS)
        read_only_fields = fields


class SLOSerializer(StrictModelSerializer):
    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all())
    team = serializers.CharField(source="service.owner_team.slug", read_only=True, help_text="Owner team's slug.")
    status = SLOStatusSerializer(read_only=True, allow_null=True, help_text="Empty until the first evaluation.")

    class Meta:
        model = SLO
        # The fields the services write (the owner team shown after the service), then what opsgov keeps.
        fields = [
            "uuid",
            "service",
            "team",
            *(name for name in services.SLO_FIELDS if name != "service"),
            "last_sli_at",
            "status",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["uuid", "last_sli_at", "created_at", "updated_at"]
        # Uniqueness is checked by monitoring.slos.services, which names the field to fix.
        validators: list[object] = []


class SLIBucketInSerializer(StrictSerializer):
    """Documentation of one pushed bucket (the body is validated with pydantic: monitoring.api.slo_schemas)."""

    start = serializers.DateTimeField(help_text="Interval start, ISO 8601 with a time zone.")
    seconds = serializers.IntegerField(min_value=1, max_value=3600, default=60, help_text="Interval length.")
    good = serializers.IntegerField(min_value=0)
    total = serializers.IntegerField(min_value=0, help_text="At least good.")


class SLIPushSerializer(StrictSerializer):
    buckets = SLIBucketInSerializer(many=True, help_text=f"1 to {MAX_BUCKETS} buckets, each start once.")


class SLIPushResultSerializer(serializers.Serializer):
    slo = serializers.UUIDField()
    written = serializers.IntegerField(help_text="Buckets stored (inserted or replaced).")
    last_sli_at = serializers.DateTimeField(allow_null=True, help_text="End of the newest interval stored.")
