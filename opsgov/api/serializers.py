"""Serializers of the core API. Validation of business rules lives in services (full_clean)."""

from __future__ import annotations

from rest_framework import serializers

from opsgov.models import Service, Team


class LinkSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=120)
    url = serializers.URLField()


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "slug", "name", "description", "email", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class ServiceSerializer(serializers.ModelSerializer):
    owner_team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    links = LinkSerializer(many=True, required=False)

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
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
