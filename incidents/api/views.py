"""Incidents API: incidents with their lifecycle actions, and alert integrations.

Thin: querysets, serializers, the filterset and permissions here; every write
goes through incidents.services, whose DomainError/TransitionError the API
exception handler answers with 400 and the field path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from opsgov.api.pagination import CursorPagination, PageNumberPagination
from opsgov.api.permissions import RoleModelPermissions
from opsgov.evidence import NoEvidenceDeleteMixin

from .. import history, services
from ..filters import (
    IncidentFilterSet,
    alert_signals,
    incident_detail,
    incident_list,
    incident_number,
    timeline_entries,
)
from ..ingest.selectors import recent_unknown_values_prefetch
from ..models import Incident, Integration
from .serializers import (
    AlertSignalSerializer,
    IncidentCreateSerializer,
    IncidentDetailSerializer,
    IncidentSerializer,
    IncidentUpdateSerializer,
    IntegrationSerializer,
    IntegrationWithTokenSerializer,
    NoteSerializer,
    ReasonSerializer,
    TimelineEventSerializer,
    TransitionSerializer,
    TransitionWithMessageSerializer,
)


class ChangePermission(RoleModelPermissions):
    """For POST actions that change an existing record (acknowledge, rotate a token...): the change permission."""

    perms_map = {**RoleModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


class TimelinePagination(PageNumberPagination):
    """An incident's timeline and signals: numbered pages of 50 (page_size up to 200), with the total count."""

    page_size = 50


class IncidentCursorPagination(CursorPagination):
    """Newest first, the order of the trigger-time index; no COUNT(*)."""

    ordering = ("-triggered_at", "-id")


NUMBER = OpenApiParameter(
    "number",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    pattern=r"^(INC-)?[0-9]+$",
    description='The public id "INC-316", or its number 316 (both name the same incident).',
)


@extend_schema_view(
    list=extend_schema(summary="List incidents (newest first, cursor-paginated)"),
    retrieve=extend_schema(
        summary="An incident with its newest timeline entries (the whole timeline: .../timeline/)", parameters=[NUMBER]
    ),
)
class IncidentViewSet(
    NoEvidenceDeleteMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Incidents. Status changes are POST actions; incidents are never deleted (cancel a false alarm)."""

    queryset = incident_list()
    serializer_class = IncidentSerializer
    filterset_class = IncidentFilterSet
    filter_backends = [DjangoFilterBackend]  # the cursor fixes the order: no client ordering
    pagination_class = IncidentCursorPagination
    lookup_url_kwarg = "number"
    lookup_value_regex = r"(?:INC-|inc-)?[0-9]+"  # the public id or its number: /incidents/INC-316/ or /316/

    def get_queryset(self) -> QuerySet[Incident]:
        if self.action == "list":
            return incident_list().prefetch_related("impacted_services")
        return incident_detail()

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return IncidentSerializer if self.action == "list" else IncidentDetailSerializer

    def get_object(self) -> Incident:
        # "INC-316" and "316" look up the same row (the URL regex admits nothing else).
        self.kwargs[self.lookup_url_kwarg] = incident_number(self.kwargs[self.lookup_url_kwarg])
        return super().get_object()

    def _validated(self, serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
        serializer = serializer_class(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _detail(self, incident: Incident, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = incident_detail().get(pk=incident.pk)
        return Response(IncidentDetailSerializer(fresh, context=self.get_serializer_context()).data, status=status_code)

    @extend_schema(
        summary="An incident's timeline, oldest entry first (paginated)",
        parameters=[NUMBER],
        responses={200: TimelineEventSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], pagination_class=TimelinePagination, filter_backends=[])
    def timeline(self, request: Request, number: str | None = None) -> Response:
        return self._paginated(timeline_entries(self.get_object()), TimelineEventSerializer)

    @extend_schema(
        summary="An incident's alerts with their counts, most recently seen first (paginated)",
        parameters=[NUMBER],
        responses={200: AlertSignalSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], pagination_class=TimelinePagination, filter_backends=[])
    def signals(self, request: Request, number: str | None = None) -> Response:
        return self._paginated(alert_signals(self.get_object()), AlertSignalSerializer)

    def _paginated(self, queryset: QuerySet[Any], serializer_class: type[serializers.BaseSerializer]) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)

    @extend_schema(
        summary="Declare an incident (or, with the import permission, record one from history)",
        request=IncidentCreateSerializer,
        responses={201: IncidentDetailSerializer},
    )
    def create(self, request: Request) -> Response:
        data = self._validated(IncidentCreateSerializer, request)
        # Present only for users who may import history (the serializer drops them for anyone else).
        instants = {name: data.pop(name) for name in history.INSTANT_FIELDS if name in data}
        if any(value is not None for value in instants.values()):
            incident = history.incident_import(actor=request.user, instants=instants, **data)
        else:
            incident = services.incident_create(actor=request.user, **data)
        return self._detail(incident, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change title, summary, severity, commander or customer impact",
        parameters=[NUMBER],
        request=IncidentUpdateSerializer,
        responses={200: IncidentDetailSerializer},
    )
    def partial_update(self, request: Request, number: str) -> Response:
        serializer = IncidentUpdateSerializer(data=request.data, partial=True, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        incident = services.incident_update(
            incident=self.get_object(), data=dict(serializer.validated_data), actor=request.user
        )
        return self._detail(incident)

    def _transition(self, request: Request, serializer_class: type[serializers.Serializer], call: Callable) -> Response:
        data = self._validated(serializer_class, request)
        if (at := data.pop("at", None)) is not None:  # an explicit instant: importers only, audited
            incident = history.action_at(call=call, incident=self.get_object(), actor=request.user, at=at, **data)
        else:
            incident = call(incident=self.get_object(), actor=request.user, **data)
        return self._detail(incident)

    @extend_schema(
        summary="Acknowledge (someone is on it)",
        parameters=[NUMBER],
        request=TransitionSerializer,
        responses={200: IncidentDetailSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def acknowledge(self, request: Request, number: str) -> Response:
        return self._transition(request, TransitionSerializer, services.incident_acknowledge)

    @extend_schema(
        summary="Mark mitigated (impact stopped, cause not yet fixed)",
        parameters=[NUMBER],
        request=TransitionWithMessageSerializer,
        responses={200: IncidentDetailSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def mitigate(self, request: Request, number: str) -> Response:
        return self._transition(request, TransitionWithMessageSerializer, services.incident_mitigate)

    @extend_schema(
        summary="Resolve",
        parameters=[NUMBER],
        request=TransitionWithMessageSerializer,
        responses={200: IncidentDetailSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def resolve(self, request: Request, number: str) -> Response:
        return self._transition(request, TransitionWithMessageSerializer, services.incident_resolve)

    @extend_schema(
        summary="Reopen a resolved or cancelled incident (reason required)",
        parameters=[NUMBER],
        request=ReasonSerializer,
        responses={200: IncidentDetailSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def reopen(self, request: Request, number: str) -> Response:
        return self._transition(request, ReasonSerializer, services.incident_reopen)

    @extend_schema(
        summary="Cancel a false alarm (reason required; excluded from metrics)",
        parameters=[NUMBER],
        request=ReasonSerializer,
        responses={200: IncidentDetailSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def cancel(self, request: Request, number: str) -> Response:
        return self._transition(request, ReasonSerializer, services.incident_cancel)

    @extend_schema(
        summary="Add a note to the timeline",
        parameters=[NUMBER],
        request=NoteSerializer,
        responses={201: TimelineEventSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def note(self, request: Request, number: str) -> Response:
        data = self._validated(NoteSerializer, request)
        if (at := data.pop("at", None)) is not None:  # an explicit instant: importers only, audited
            event = history.action_at(
                call=services.incident_add_note, incident=self.get_object(), actor=request.user, at=at, **data
            )
        else:
            event = services.incident_add_note(incident=self.get_object(), actor=request.user, **data)
        return Response(TimelineEventSerializer(event).data, status=status.HTTP_201_CREATED)


UUID = OpenApiParameter("uuid", OpenApiTypes.UUID, OpenApiParameter.PATH)


@extend_schema_view(
    list=extend_schema(summary="List integrations"),
    retrieve=extend_schema(summary="An integration (never its token)", parameters=[UUID]),
    update=extend_schema(summary="Change an integration", parameters=[UUID]),
    partial_update=extend_schema(summary="Change some fields of an integration", parameters=[UUID]),
    destroy=extend_schema(summary="Delete an integration that never received an alert", parameters=[UUID]),
)
class IntegrationViewSet(viewsets.ModelViewSet):
    """Alert sources, one service each. The token is in the answer to a create or a rotation only."""

    queryset = Integration.objects.select_related("service").order_by("name", "id")
    serializer_class = IntegrationSerializer
    lookup_field = "uuid"
    filter_backends: list[type] = []

    def get_queryset(self) -> Any:
        # The unknown routing values of the page's integrations in one query (selectors.unknown_routing_values).
        return super().get_queryset().prefetch_related(recent_unknown_values_prefetch())

    def _with_token(self, integration: Integration, token: str, status_code: int) -> Response:
        context = {**self.get_serializer_context(), "token": token}
        return Response(IntegrationWithTokenSerializer(integration, context=context).data, status=status_code)

    @extend_schema(
        summary="Create an integration; the answer holds its token, shown once",
        responses={201: IntegrationWithTokenSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        integration, token = services.integration_create(**serializer.validated_data)
        return self._with_token(integration, token, status.HTTP_201_CREATED)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.integration_update(
            integration=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance: Integration) -> None:
        services.integration_delete(integration=instance)

    @extend_schema(
        summary="Replace the token (the old one stops working now); the answer holds the new one, shown once",
        parameters=[UUID],
        request=None,
        responses={200: IntegrationWithTokenSerializer},
    )
    @action(detail=True, methods=["post"], url_path="rotate-token", permission_classes=[ChangePermission])
    def rotate_token(self, request: Request, uuid: str) -> Response:
        integration = self.get_object()
        token = services.integration_rotate_token(integration=integration)
        integration.refresh_from_db()
        return self._with_token(integration, token, status.HTTP_200_OK)
