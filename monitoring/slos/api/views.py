"""SLO API: SLOs (read by every role, written by SRE and DevOps leads) and the SLI push intake.

Thin: querysets, serializers, the filterset and permissions here; writes go
through monitoring.slos.services and monitoring.slos.sli, whose ValidationErrors the API
exception handler answers with 400 and the field path.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from opsgov.api.parsers import JSONParser
from opsgov.errors import DomainError

from ...models import SLO, SLISource
from .. import services
from ..filters import SLOFilterSet
from ..selectors import slo_list
from ..sli import record_sli
from .schemas import parse_push
from .serializers import SLIPushResultSerializer, SLIPushSerializer, SLOSerializer

SLI_PUSH_PERMISSION = "monitoring.add_slibucket"


class CanPushSLI(BasePermission):
    """Pushing SLI data needs `monitoring.add_slibucket`: the SRE and DevOps leads have it, and so can a
    service account made for an integration (a user holding only that permission, with a knox token)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(SLI_PUSH_PERMISSION))


UUID = OpenApiParameter("uuid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The SLO's UUID.")


@extend_schema_view(
    list=extend_schema(summary="List SLOs with their latest status (budget, burn rates, firing alerts)"),
    retrieve=extend_schema(summary="An SLO with its latest status", parameters=[UUID]),
    create=extend_schema(summary="Create an SLO"),
    update=extend_schema(summary="Change an SLO", parameters=[UUID]),
    partial_update=extend_schema(summary="Change some fields of an SLO", parameters=[UUID]),
    destroy=extend_schema(
        summary="Delete an SLO with its SLI data (its firing alerts are resolved)", parameters=[UUID]
    ),
)
class SLOViewSet(viewsets.ModelViewSet):
    """Service level objectives. `status` is the SLO engine's latest evaluation (see monitoring.engine)."""

    queryset = slo_list()
    serializer_class = SLOSerializer
    filterset_class = SLOFilterSet
    lookup_field = "uuid"
    ordering_fields = ["name", "objective_percent", "created_at"]
    ordering = ["service__name", "name", "pk"]

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.slo_create(**serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.slo_update(slo=serializer.instance, data=dict(serializer.validated_data))

    def perform_destroy(self, instance: SLO) -> None:
        services.slo_delete(slo=instance)

    @extend_schema(
        summary="Push SLI data: good/total counts per interval, idempotent per interval start",
        parameters=[UUID],
        request=SLIPushSerializer,
        responses={200: SLIPushResultSerializer},
        description=(
            "Stores every bucket or none (a bad one rejects the batch with its path, e.g. `buckets[3].total`). "
            "A bucket sent again for the same start replaces the stored one. Needs the "
            f"`{SLI_PUSH_PERMISSION}` permission (SRE and DevOps leads, or an integration's service account). "
            "Only for SLOs whose source is `push`."
        ),
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="sli",
        permission_classes=[CanPushSLI],
        parser_classes=[JSONParser],
        filterset_class=None,
    )
    def sli(self, request: Request, uuid: str) -> Response:
        slo: SLO = self.get_object()
        if slo.source != SLISource.PUSH:
            raise DomainError(
                f"This SLO's data come from {slo.get_source_display()}; only SLOs whose source is "
                "'push' take pushed SLI data.",
                field="source",
            )
        readings = parse_push(request.data)
        written = record_sli(slo=slo, readings=readings)
        slo.refresh_from_db(fields=["last_sli_at"])
        result = {"slo": slo.uuid, "written": written, "last_sli_at": slo.last_sli_at}
        return Response(SLIPushResultSerializer(result).data, status=status.HTTP_200_OK)
