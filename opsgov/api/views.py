"""Core API: teams, services and the effective policy. Thin: queryset, serializer, filterset, permissions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from opsgov import selectors, services
from opsgov.filters import MetricSnapshotFilterSet, ServiceFilterSet, TeamFilterSet
from opsgov.models import Service, Team
from opsgov.policy import get_policy

from .permissions import HasRole
from .serializers import MetricSnapshotSerializer, ServiceSerializer, TeamSerializer


class TeamViewSet(viewsets.ModelViewSet):
    queryset = selectors.team_list()
    serializer_class = TeamSerializer
    filterset_class = TeamFilterSet
    lookup_field = "slug"
    ordering_fields = ["name", "slug", "created_at"]
    ordering = ["name"]

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.team_create(**serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        team: Team = serializer.instance
        serializer.instance = services.team_update(team=team, data=serializer.validated_data)

    def perform_destroy(self, instance: Team) -> None:
        services.team_delete(team=instance)


class ServiceViewSet(viewsets.ModelViewSet):
    queryset = selectors.service_list()
    serializer_class = ServiceSerializer
    filterset_class = ServiceFilterSet
    lookup_field = "slug"
    ordering_fields = ["name", "slug", "tier", "created_at"]
    ordering = ["name"]

    @staticmethod
    def _plain(data: dict[str, Any]) -> dict[str, Any]:
        if "links" in data:
            data = {**data, "links": [dict(link) for link in data["links"]]}
        return data

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.service_create(**self._plain(serializer.validated_data))

    def perform_update(self, serializer: Any) -> None:
        service: Service = serializer.instance
        serializer.instance = services.service_update(service=service, data=self._plain(serializer.validated_data))

    def perform_destroy(self, instance: Service) -> None:
        services.service_delete(service=instance)


class PolicyView(APIView):
    """The effective operations policy (defaults overridden by OPSGOV_POLICY), read-only."""

    permission_classes = [HasRole]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response(get_policy().model_dump(mode="json"))


class MetricSnapshotViewSet(viewsets.ReadOnlyModelViewSet):
    """The latest value of each operational metric per scope and window.

    Durations are in seconds. Filter with `metric`, `scope` (`global`,
    `service:<slug>`, `team:<slug>`, `severity:<key>`) and `window` (7d, 30d, 90d).
    """

    queryset = selectors.latest_snapshots()
    serializer_class = MetricSnapshotSerializer
    filterset_class = MetricSnapshotFilterSet
    ordering_fields = ["metric", "scope", "window"]
    ordering = ["metric", "scope", "window"]
