"""Quality gates API: current status, evidence, history with "as of" replay, on-demand evaluation, waivers.

- `GET  /api/v1/gates/`                   every registered gate with its newest evaluation (seed order; eight
                                          rows from the registry, not paginated).
- `GET  /api/v1/gates/<key>/`             the newest evaluation with its evidence rows, filterable by
                                          `service`, `team`, `status` and `q` (the gate page's filters).
- `GET  /api/v1/gates/<key>/history/`     evaluations newest first (cursor pagination); `?at=<ISO 8601>` keeps
                                          only the one current then; `?changes_only=true` only status changes.
- `POST /api/v1/gates/<key>/evaluate/`    re-run the gate now (permission opsgov.run_gate_evaluation).
- `/api/v1/gate-waivers/`                 list (filters: gate, service, organisation_wide, state, approver,
                                          requested_by), create (a request naming its approver; `service` null
                                          or absent for an organisation-wide check), retrieve, and the actions
                                          `approve` and `revoke` (rules in opsgov.gates.waivers).

Reading gates needs `opsgov.view_gateevaluation` (every role); anonymous requests get 401.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import Http404
from django.urls import include, path
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiTypes,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from opsgov.api.pagination import CursorPagination
from opsgov.api.strict import StrictModelSerializer, StrictSerializer
from opsgov.evidence import NoEvidenceDeleteMixin
from opsgov.filters import BooleanFilter, FilterSet, MultiValueCharFilter
from opsgov.models import GateEvaluation, GateStatus, GateWaiver, Service, WaiverState
from opsgov.registry import Gate, gates

from . import selectors, services, waivers

VIEW_PERMISSION = "opsgov.view_gateevaluation"
RUN_PERMISSION = "opsgov.run_gate_evaluation"


class GatePermission(BasePermission):
    """Reading gates needs the view permission on evaluations; `evaluate` needs run_gate_evaluation."""

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        needed = RUN_PERMISSION if getattr(view, "action", None) == "evaluate" else VIEW_PERMISSION
        return bool(user.has_perm(needed))


# --- Serializers ------------------------------------------------------------------------------


class WaiverRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    approver = serializers.CharField()
    status = serializers.CharField(help_text="What the row would be without the waiver (fail or at_risk).")


class EvidenceSerializer(serializers.Serializer):
    key = serializers.CharField(help_text='Stable key of the check within the gate, e.g. "escalation:checkout".')
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.label
    status = serializers.ChoiceField(choices=GateStatus.choices)
    detail = serializers.CharField()
    url = serializers.CharField(help_text="Link to the record behind the row (a path on this site, or absolute).")
    service = serializers.CharField(help_text="Slug of the service the row is about; empty for a global row.")
    team = serializers.CharField(help_text="Slug of the team owning the service; empty for a global row.")
    waiver = WaiverRefSerializer(allow_null=True, help_text="The waiver covering the row, when it is waived.")


class EvaluationSerializer(serializers.ModelSerializer):
    """An evaluation with its evidence rows (each with its service's team)."""

    evidence = serializers.SerializerMethodField()

    class Meta:
        model = GateEvaluation
        fields = ["id", "gate", "status", "previous_status", "status_changed", "reason", "evaluated_at", "evidence"]

    @extend_schema_field(EvidenceSerializer(many=True))
    def get_evidence(self, evaluation: GateEvaluation) -> list[dict[str, Any]]:
        rows: dict[int, list[selectors.EvidenceRow]] = self.context.get("rows") or {}
        if evaluation.pk not in rows:
            rows = selectors.evidence_rows(evaluation)
        return [row.as_json() for row in rows.get(evaluation.pk, [])]


class CountsSerializer(serializers.Serializer):
    fail = serializers.IntegerField()  # type: ignore[assignment]  # a field named like Field.fail
    at_risk = serializers.IntegerField()
    waived = serializers.IntegerField()
    passed = serializers.IntegerField(help_text="Passing rows.")


class GateSerializer(serializers.Serializer):
    """A gate with its newest evaluation: status (never "pass" without evidence), reason and row counts."""

    key = serializers.CharField(source="gate.key")
    step = serializers.IntegerField(source="gate.step")
    title = serializers.CharField(source="gate.title")
    description = serializers.CharField(source="gate.description")
    owner_roles = serializers.ListField(child=serializers.CharField(), source="gate.owner_roles")
    approver_roles = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=GateStatus.choices)
    reason = serializers.SerializerMethodField()
    evaluated_at = serializers.SerializerMethodField()
    evaluation_id = serializers.SerializerMethodField()
    counts = CountsSerializer()

    def get_approver_roles(self, item: selectors.GateOverview) -> list[str]:
        return list(item.gate.waiver_approver_roles())

    def get_reason(self, item: selectors.GateOverview) -> str:
        return item.evaluation.reason if item.evaluation else "Not evaluated yet."

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_evaluated_at(self, item: selectors.GateOverview) -> str | None:
        return item.evaluation.evaluated_at.isoformat() if item.evaluation else None

    @extend_schema_field(OpenApiTypes.INT)
    def get_evaluation_id(self, item: selectors.GateOverview) -> int | None:
        return item.evaluation.pk if item.evaluation else None


class GateDetailSerializer(GateSerializer):
    evidence = serializers.SerializerMethodField()

    @extend_schema_field(EvidenceSerializer(many=True))
    def get_evidence(self, item: selectors.GateOverview) -> list[dict[str, Any]]:
        return [row.as_json() for row in self.context.get("evidence", [])]


class HistoryQuerySerializer(serializers.Serializer):
    at = serializers.DateTimeField(required=False, help_text="Keep only the evaluation that was current then.")
    changes_only = serializers.BooleanField(required=False, default=False)


# --- Gates ------------------------------------------------------------------------------------


class HistoryPagination(CursorPagination):
    ordering = ("-evaluated_at", "-id")
    page_size = 50


EVIDENCE_FILTERS = [
    OpenApiParameter("service", OpenApiTypes.STR, many=True, description="Service slug(s) of the rows."),
    OpenApiParameter("team", OpenApiTypes.STR, many=True, description="Slug(s) of the teams owning the services."),
    OpenApiParameter("status", OpenApiTypes.STR, many=True, enum=GateStatus.values, description="Row status(es)."),
    OpenApiParameter("q", OpenApiTypes.STR, description="Text in the row's key, label or detail."),
]


class GateViewSet(viewsets.ViewSet):
    """Quality gates: the newest evaluation of each, its evidence, its history."""

    permission_classes = [GatePermission]
    lookup_field = "key"
    lookup_value_regex = "[a-z0-9_-]+"

    def _gate(self, key: str) -> Gate:
        if key not in gates:
            raise Http404
        return gates.get(key)

    @extend_schema(responses=GateSerializer(many=True))
    def list(self, request: Request) -> Response:
        return Response(GateSerializer(selectors.gate_overview(), many=True).data)

    @extend_schema(parameters=EVIDENCE_FILTERS, responses=GateDetailSerializer)
    def retrieve(self, request: Request, key: str) -> Response:
        gate = self._gate(key)
        evaluation = selectors.evaluation_as_of(gate.key)
        rows = selectors.evidence_rows(evaluation).get(evaluation.pk, []) if evaluation else []
        filterset = selectors.EvidenceFilterSet(request.query_params or None, queryset=Service.objects.all())
        if filterset.is_bound and not filterset.is_valid():
            raise ValidationError(filterset.errors)
        item = selectors.GateOverview(gate=gate, evaluation=evaluation, counts=selectors.count_rows(evaluation))
        context = {"evidence": filterset.filter_rows(rows)}
        return Response(GateDetailSerializer(item, context=context).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("at", OpenApiTypes.DATETIME, description="Only the evaluation current at this time."),
            OpenApiParameter("changes_only", OpenApiTypes.BOOL, description="Only evaluations that changed status."),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="The pagination cursor (from `next`)."),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="Evaluations per page (50; at most 200)."),
        ],
        responses=inline_serializer(
            name="PaginatedGateEvaluationList",
            fields={
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": EvaluationSerializer(many=True),
            },
        ),
    )
    @action(detail=True, methods=["get"])
    def history(self, request: Request, key: str) -> Response:
        gate = self._gate(key)
        query = HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        evaluations: QuerySet[GateEvaluation] = selectors.history(gate.key)
        if query.validated_data.get("changes_only"):
            evaluations = evaluations.filter(status_changed=True)
        at = query.validated_data.get("at")
        if at is not None:
            current = selectors.evaluation_as_of(gate.key, at)
            evaluations = evaluations.filter(pk=current.pk) if current else evaluations.none()
        paginator = HistoryPagination()
        page = list(paginator.paginate_queryset(evaluations, request, view=self) or [])
        context = {"rows": selectors.evidence_rows(*page)}
        return paginator.get_paginated_response(EvaluationSerializer(page, many=True, context=context).data)

    @extend_schema(request=None, responses={201: EvaluationSerializer})
    @action(detail=True, methods=["post"])
    def evaluate(self, request: Request, key: str) -> Response:
        evaluation = services.evaluate_gate(gate=self._gate(key))
        return Response(EvaluationSerializer(evaluation).data, status=status.HTTP_201_CREATED)


# --- Waivers ----------------------------------------------------------------------------------


class GateWaiverSerializer(StrictModelSerializer):
    service = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Service.objects.all(),
        required=False,
        allow_null=True,
        help_text="Slug of the service of the check waived; null (or absent) for an organisation-wide check, "
        "a row about no service.",
    )
    approver = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.all(),
        help_text="Username of the approver: a holder of the gate's approver role, not you.",
    )
    requested_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    revoked_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Who revoked it; null until revoked."
    )
    state = serializers.SerializerMethodField()

    class Meta:
        model = GateWaiver
        fields = [
            "id",
            "gate",
            "evidence_key",
            "service",
            "reason",
            "compensating_control",
            "approver",
            "expires_at",
            "state",
            "requested_by",
            "approved_at",
            "revoked_at",
            "revoked_by",
            "revoke_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "state",
            "requested_by",
            "approved_at",
            "revoked_at",
            "revoked_by",
            "revoke_reason",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=WaiverState.choices))
    def get_state(self, waiver: GateWaiver) -> str:
        return str(waiver.state.value)


class RevokeSerializer(StrictSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class GateWaiverFilterSet(FilterSet):
    gate = MultiValueCharFilter()
    service = selectors.ServiceSlugFilter(
        field_name="service__slug", to_field_name="slug", queryset=Service.objects.order_by("name"), distinct=False
    )
    organisation_wide = BooleanFilter(
        field_name="service",
        lookup_expr="isnull",
        label="Organisation-wide",
        help_text="true: only the waivers of organisation-wide checks (no service); false: only per-service ones.",
    )
    state = django_filters.MultipleChoiceFilter(choices=WaiverState.choices, method="filter_state")
    approver = MultiValueCharFilter(field_name="approver__username")
    requested_by = MultiValueCharFilter(field_name="requested_by__username")

    class Meta:
        model = GateWaiver
        fields = ["gate", "service", "organisation_wide", "state", "approver", "requested_by"]

    def filter_state(self, queryset: QuerySet[GateWaiver], name: str, value: list[str]) -> QuerySet[GateWaiver]:
        return waivers.filter_state(queryset, value, now=timezone.now()) if value else queryset


class GateWaiverViewSet(
    NoEvidenceDeleteMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Waivers of failing gate checks: request one (naming its approver), approve, revoke. Never deleted."""

    queryset = waivers.waiver_list()
    serializer_class = GateWaiverSerializer
    filterset_class = GateWaiverFilterSet
    ordering_fields = ["created_at", "expires_at"]
    ordering = ["-created_at"]

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = waivers.waiver_request(**serializer.validated_data, requested_by=self.request.user)

    @extend_schema(request=None, responses=GateWaiverSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        waiver = waivers.waiver_approve(waiver=self.get_object(), actor=request.user)
        return Response(self.get_serializer(waiver).data)

    @extend_schema(request=RevokeSerializer, responses=GateWaiverSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        body = RevokeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reason = body.validated_data.get("reason", "")
        waiver = waivers.waiver_revoke(waiver=self.get_object(), actor=request.user, reason=reason)
        return Response(self.get_serializer(waiver).data)


# Routes (mounted under /api/v1/ by opsgov.api.urls).
router = SimpleRouter()
router.register("gates", GateViewSet, basename="api-gate")
router.register("gate-waivers", GateWaiverViewSet, basename="api-gate-waiver")

urlpatterns = [path("", include(router.urls))]
