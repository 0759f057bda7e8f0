"""Dead-letter API (incidents.ingest.dead_letters): the accepted events whose processing failed, and their replay.

GET /api/v1/dead-letters/ lists them newest first (cursor-paginated, `?integration=<uuid>`);
POST /api/v1/dead-letters/<uuid>/replay/ takes one off the list and has it processed again
(incidents.replay_rawevent, SRE Lead), audited.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from opsgov.api.pagination import CursorPagination
from opsgov.api.permissions import RoleModelPermissions
from opsgov.filters import FilterSet

from ...models import RawEvent
from .. import dead_letters


class DeadLetterSerializer(serializers.ModelSerializer):
    """A dead-lettered event: what was received, why processing failed, who replayed it before."""

    uuid = serializers.UUIDField(read_only=True)
    integration = serializers.UUIDField(source="integration.uuid", read_only=True, help_text="The integration's UUID.")
    integration_name = serializers.CharField(source="integration.name", read_only=True)
    service = serializers.CharField(source="integration.service.slug", read_only=True)
    replayed_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Who replayed it last; null if never."
    )

    class Meta:
        model = RawEvent
        fields = [
            "uuid",
            "integration",
            "integration_name",
            "service",
            "action",
            "dedup_key",
            "received_at",
            "dead_lettered_at",
            "attempts",
            "last_error",
            "replay_count",
            "replayed_at",
            "replayed_by",
            "payload",
        ]
        read_only_fields = fields


class DeadLetterFilterSet(FilterSet):
    integration = django_filters.UUIDFilter(
        field_name="integration__uuid", label="Integration", help_text="Only this integration's (its UUID)."
    )

    class Meta:
        model = RawEvent
        fields = ["integration"]


class DeadLetterPagination(CursorPagination):
    ordering = ("-dead_lettered_at", "-id")


class ReplayPermission(BasePermission):
    """incidents.replay_rawevent (SRE Lead)."""

    message = "Replaying dead letters needs the incidents.replay_rawevent permission (SRE Lead)."

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and dead_letters.may_replay(request.user))


UUID = OpenApiParameter("uuid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The raw event's UUID.")


@extend_schema_view(
    list=extend_schema(summary="Dead-lettered alert events (newest first, cursor-paginated)"),
    retrieve=extend_schema(summary="A dead-lettered alert event", parameters=[UUID]),
)
class DeadLetterViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Accepted events whose processing failed every attempt: they took no effect until replayed."""

    queryset = dead_letters.dead_letters()
    serializer_class = DeadLetterSerializer
    filterset_class = DeadLetterFilterSet
    filter_backends = [DjangoFilterBackend]
    pagination_class = DeadLetterPagination
    permission_classes = [RoleModelPermissions]
    lookup_field = "uuid"

    def get_queryset(self) -> QuerySet[RawEvent]:
        if self.action == "replay":  # any event: replaying one that is not dead-lettered is a 400 that says why
            return RawEvent.objects.select_related("integration__service", "replayed_by")
        return dead_letters.dead_letters()

    @extend_schema(
        summary="Replay a dead-lettered event: processed again; back on the list if it fails again",
        parameters=[UUID],
        request=None,
        responses={202: DeadLetterSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[ReplayPermission])
    def replay(self, request: Request, uuid: str | None = None) -> Response:
        event = dead_letters.replay(event=self.get_object(), actor=request.user)
        return Response(DeadLetterSerializer(event, context=self.get_serializer_context()).data, status=202)
