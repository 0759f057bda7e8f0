"""API of escalation policies: ordered levels and covered services, written as one document."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, QuerySet
from rest_framework import serializers, viewsets

from opsgov.api.strict import StrictModelSerializer
from opsgov.models import Service

from .. import escalation_policies as writes
from ..models import EscalationLevel, EscalationPolicy, Schedule, ServiceEscalation


class EscalationLevelSerializer(StrictModelSerializer):
    schedule = serializers.SlugRelatedField(
        slug_field="slug", queryset=Schedule.objects.all(), allow_null=True, required=False
    )
    users = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.filter(is_active=True), many=True, required=False
    )

    class Meta:
        model = EscalationLevel
        fields = ["position", "delay_minutes", "schedule", "users"]
        read_only_fields = ["position"]


class EscalationPolicySerializer(StrictModelSerializer):
    levels = EscalationLevelSerializer(many=True, required=False, help_text="In order; replaces all levels.")
    services = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Service.objects.all(),
        many=True,
        required=False,
        help_text="Services whose policy this is (a service moves here from its previous policy).",
    )

    class Meta:
        model = EscalationPolicy
        fields = ["id", "slug", "name", "description", "levels", "services", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def to_representation(self, instance: EscalationPolicy) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["services"] = [link.service.slug for link in instance.service_links.all()]
        return data


def _levels(data: list[dict[str, Any]] | None) -> list[writes.LevelSpec] | None:
    if data is None:
        return None
    return [
        writes.LevelSpec(
            delay_minutes=item.get("delay_minutes", 0), schedule=item.get("schedule"), users=item.get("users", [])
        )
        for item in data
    ]


class EscalationPolicyViewSet(viewsets.ModelViewSet):
    """Escalation policies. Level 1 is notified at once (after its delay); each next level after its
    delay while the incident stays unacknowledged."""

    serializer_class = EscalationPolicySerializer
    lookup_field = "slug"
    ordering = ["name"]
    ordering_fields = ["name", "slug"]

    def get_queryset(self) -> QuerySet[EscalationPolicy]:
        levels = EscalationLevel.objects.select_related("schedule").prefetch_related("users").order_by("position")
        links = ServiceEscalation.objects.select_related("service").order_by("service__slug")
        return EscalationPolicy.objects.prefetch_related(
            Prefetch("levels", queryset=levels), Prefetch("service_links", queryset=links)
        ).order_by("name")

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = writes.policy_create(
            slug=data["slug"],
            name=data["name"],
            description=data.get("description", ""),
            levels=_levels(data.get("levels")) or [],
            services=data.get("services", []),
        )

    def perform_update(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        levels = _levels(data.pop("levels", None))
        services = data.pop("services", None)
        serializer.instance = writes.policy_update(
            policy=serializer.instance, data=data, levels=levels, services=services
        )

    def perform_destroy(self, instance: EscalationPolicy) -> None:
        writes.policy_delete(policy=instance)
