"""Serializers of the core API. Validation of business rules lives in services (full_clean)."""

from __future__ import annotations

from rest_framework import serializers

from opsgov.models import MetricSnapshot, Service, Team
from opsgov.registry import MetricDefinition, metrics

from .strict import StrictModelSerializer, StrictSerializer


class LinkSerializer(StrictSerializer):
    title = serializers.CharField(max_length=120)
    url = serializers.URLField()


class TeamSerializer(StrictModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "slug", "name", "description", "email", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class ServiceSerializer(StrictModelSerializer):
    owner_team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    links = LinkSerializer(many=True, required=False)
    aliases = serializers.ListField(
        child=serializers.SlugField(max_length=64),
        required=False,
        max_length=20,
        help_text="Other names alerts use for this service (routing labels); unique across services.",
    )

    class Meta:
        model = Service
        fields = [
            "id",
            "slug",
            "name",
            "tier",
            "owner_team",
            "lifecycle",
            "description",
            "links",
            "aliases",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class MetricSnapshotSerializer(serializers.ModelSerializer):
    unit = serializers.SerializerMethodField()
    target = serializers.SerializerMethodField()
    meets_target = serializers.SerializerMethodField()

    class Meta:
        model = MetricSnapshot
        fields = [
            "id",  # what /api/v1/metrics/{id}/ takes
            "metric",
            "scope",
            "window",
            "value",
            "unit",
            "sample_size",
            "details",
            "target",
            "meets_target",
            "computed_at",
            "is_current",
        ]

    def _definition(self, snapshot: MetricSnapshot) -> MetricDefinition | None:
        return metrics.get(snapshot.metric) if snapshot.metric in metrics else None

    def get_unit(self, snapshot: MetricSnapshot) -> str | None:
        definition = self._definition(snapshot)
        return definition.unit if definition else None

    def get_target(self, snapshot: MetricSnapshot) -> float | None:
        definition = self._definition(snapshot)
        return definition.target() if definition else None

    def get_meets_target(self, snapshot: MetricSnapshot) -> bool | None:
        definition = self._definition(snapshot)
        if definition is None:
            return None
        if snapshot.value is None:
            # e.g. MTBF with no failure in the window: better than any target of that direction.
            return True if snapshot.details.get("no_failures") and definition.comparison.startswith(">") else None
        return definition.meets_target(snapshot.value)
