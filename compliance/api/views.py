"""Compliance API: frameworks (with import), controls with their live evidence, evidence files, audits
(with the OSCAL export), findings (with their status steps) and exceptions (with approval).

Reads need the view permission of the model (every role has it), writes the compliance permissions
(the Compliance Officer's); every write goes through compliance.services or compliance.importers,
whose ValidationErrors answer 400 with the field path. Nothing is deleted (405).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiTypes, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied as ApiPermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from opsgov.api.pagination import PageNumberPagination
from opsgov.api.permissions import RoleModelPermissions
from opsgov.evidence import NoEvidenceDeleteMixin
from opsgov.filters import BooleanFilter, FilterSet

from .. import oscal, regulatory, services
from ..importers import import_document
from ..models import (
    Audit,
    ChangeStatus,
    ComplianceException,
    Control,
    ControlStatus,
    EvidenceFile,
    Finding,
    FindingStatus,
    Framework,
    RegulatoryChange,
    RegulatoryTask,
    Severity,
)
from .serializers import (
    AuditSerializer,
    ControlSerializer,
    EvidenceFileSerializer,
    ExceptionSerializer,
    FindingAdvanceSerializer,
    FindingSerializer,
    FrameworkImportResultSerializer,
    FrameworkImportSerializer,
    FrameworkSerializer,
    RegulatoryAssessSerializer,
    RegulatoryChangeCreateSerializer,
    RegulatoryChangeSerializer,
    RegulatoryStatusSerializer,
    RegulatoryTaskCreateSerializer,
    RegulatoryTaskSerializer,
    ResultsImportResultSerializer,
    ResultsImportSerializer,
)


class ChangePermission(RoleModelPermissions):
    """POST actions on an existing record need its change permission."""

    perms_map = {**RoleModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


class ReadViewSet(NoEvidenceDeleteMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    pagination_class = PageNumberPagination
    permission_classes = [RoleModelPermissions]


@extend_schema_view(list=extend_schema(summary="List frameworks"), retrieve=extend_schema(summary="A framework"))
class FrameworkViewSet(ReadViewSet):
    queryset = Framework.objects.order_by("slug", "-created_at", "pk")
    serializer_class = FrameworkSerializer

    @extend_schema(
        summary="Import an OSCAL catalog (.json) or a requirement library (.yaml)",
        request=FrameworkImportSerializer,
        responses={201: FrameworkImportResultSerializer, 200: FrameworkImportResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="import")
    def import_document(self, request: Request) -> Response:
        if not request.user.has_perm("compliance.add_requirement"):
            raise ApiPermissionDenied("Importing a framework needs the compliance officer's permissions.")
        body = FrameworkImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = import_document(
            body.validated_data["content"].encode(),
            filename=body.validated_data["filename"],
            slug=body.validated_data["slug"],
        )
        data = FrameworkImportResultSerializer(
            {"created": result.created, "requirements": result.requirements, "framework": result.framework}
        ).data
        return Response(data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class ControlFilterSet(FilterSet):
    status = filters.MultipleChoiceFilter(choices=ControlStatus.choices)
    is_key = BooleanFilter()
    q = filters.CharFilter(field_name="title", lookup_expr="icontains", max_length=200)

    class Meta:
        model = Control
        fields = ["status", "is_key", "q"]


@extend_schema_view(
    list=extend_schema(summary="List controls with whether their evidence is current"),
    retrieve=extend_schema(summary="A control with its live evidence"),
)
class ControlViewSet(ReadViewSet):
    queryset = Control.objects.prefetch_related("requirements", "bindings").order_by("ref_id", "pk")
    serializer_class = ControlSerializer
    filterset_class = ControlFilterSet


@extend_schema_view(
    list=extend_schema(summary="List evidence files"), retrieve=extend_schema(summary="An evidence file")
)
class EvidenceFileViewSet(ReadViewSet):
    queryset = EvidenceFile.objects.order_by("-created_at", "-pk")
    serializer_class = EvidenceFileSerializer


@extend_schema_view(list=extend_schema(summary="List audits"), retrieve=extend_schema(summary="An audit"))
class AuditViewSet(ReadViewSet):
    queryset = Audit.objects.order_by("-period_end", "-pk")
    serializer_class = AuditSerializer

    @extend_schema(summary="The audit as OSCAL 1.1 assessment results", responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def oscal(self, request: Request, pk: str | None = None) -> Response:
        return Response(oscal.export_assessment_results(self.get_object()))


class FindingFilterSet(FilterSet):
    status = filters.MultipleChoiceFilter(choices=FindingStatus.choices)
    severity = filters.MultipleChoiceFilter(choices=Severity.choices)

    class Meta:
        model = Finding
        fields = ["status", "severity", "audit"]


@extend_schema_view(
    list=extend_schema(summary="List findings (soonest due first)"), retrieve=extend_schema(summary="A finding")
)
class FindingViewSet(ReadViewSet):
    queryset = Finding.objects.order_by("due_at", "pk")
    serializer_class = FindingSerializer
    filterset_class = FindingFilterSet

    def get_permissions(self) -> Any:
        return [ChangePermission()] if self.action == "advance" else super().get_permissions()

    @extend_schema(
        summary="Import findings from OSCAL assessment results (idempotent by finding uuid)",
        request=ResultsImportSerializer,
        responses={201: ResultsImportResultSerializer, 200: ResultsImportResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="import-oscal")
    def import_oscal(self, request: Request) -> Response:
        if not request.user.has_perm("compliance.add_finding"):
            raise ApiPermissionDenied("Importing findings needs the compliance officer's permissions.")
        body = ResultsImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = oscal.import_assessment_results(
            body.validated_data["content"].encode(), audit=body.validated_data["audit"]
        )
        data = ResultsImportResultSerializer(
            {"created": len(result.created), "unchanged": result.unchanged, "findings": result.created}
        ).data
        return Response(data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)

    @extend_schema(
        summary="Move a finding one status forward",
        request=FindingAdvanceSerializer,
        responses={200: FindingSerializer},
    )
    @action(detail=True, methods=["post"])
    def advance(self, request: Request, pk: str | None = None) -> Response:
        body = FindingAdvanceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        finding = services.finding_advance(
            finding=self.get_object(), to=body.validated_data["status"], actor=request.user
        )
        return Response(FindingSerializer(finding).data)


@extend_schema_view(list=extend_schema(summary="List exceptions"), retrieve=extend_schema(summary="An exception"))
class ExceptionViewSet(ReadViewSet):
    queryset = ComplianceException.objects.order_by("expires_at", "pk")
    serializer_class = ExceptionSerializer

    def get_permissions(self) -> Any:
        return [ChangePermission()] if self.action == "approve" else super().get_permissions()

    def get_queryset(self) -> QuerySet[ComplianceException]:
        return super().get_queryset().select_related("approver")

    @extend_schema(
        summary="Approve an exception (the named approver only)", request=None, responses={200: ExceptionSerializer}
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        exception = services.exception_approve(exception=self.get_object(), actor=request.user)
        return Response(ExceptionSerializer(exception).data)


class RegulatoryChangeFilterSet(FilterSet):
    status = filters.MultipleChoiceFilter(choices=ChangeStatus.choices)

    class Meta:
        model = RegulatoryChange
        fields = ["status"]


@extend_schema_view(
    list=extend_schema(summary="List regulatory changes (soonest effective first)"),
    retrieve=extend_schema(summary="A regulatory change with its tasks"),
)
class RegulatoryChangeViewSet(ReadViewSet):
    """The register of regulatory changes; writes go through compliance.regulatory (one transaction each)."""

    queryset = RegulatoryChange.objects.prefetch_related("tasks", "affected_controls").order_by("effective_date", "pk")
    serializer_class = RegulatoryChangeSerializer
    filterset_class = RegulatoryChangeFilterSet

    def get_permissions(self) -> Any:
        if self.action in ("assess", "set_status", "add_task"):
            return [ChangePermission()]
        return super().get_permissions()

    @extend_schema(
        summary="Register a regulatory change",
        request=RegulatoryChangeCreateSerializer,
        responses={201: RegulatoryChangeSerializer},
    )
    def create(self, request: Request) -> Response:
        if not request.user.has_perm("compliance.add_regulatorychange"):
            raise ApiPermissionDenied("Registering a change needs the compliance officer's permissions.")
        body = RegulatoryChangeCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        change = regulatory.change_create(**body.validated_data, actor=request.user)
        return Response(RegulatoryChangeSerializer(change).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Record the impact assessment (and the controls it touches)",
        request=RegulatoryAssessSerializer,
        responses={200: RegulatoryChangeSerializer},
    )
    @action(detail=True, methods=["post"])
    def assess(self, request: Request, pk: str | None = None) -> Response:
        body = RegulatoryAssessSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        change = regulatory.change_assess(
            change=self.get_object(),
            impact_assessment=body.validated_data["impact_assessment"],
            affected_controls=body.validated_data.get("affected_controls"),
            actor=request.user,
        )
        return Response(RegulatoryChangeSerializer(self.get_queryset().get(pk=change.pk)).data)

    @extend_schema(
        summary="Move a change on (implemented once its tasks are done, or not applicable)",
        request=RegulatoryStatusSerializer,
        responses={200: RegulatoryChangeSerializer},
    )
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request: Request, pk: str | None = None) -> Response:
        body = RegulatoryStatusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        change = regulatory.change_set_status(
            change=self.get_object(), status=body.validated_data["status"], actor=request.user
        )
        return Response(RegulatoryChangeSerializer(self.get_queryset().get(pk=change.pk)).data)

    @extend_schema(
        summary="Add a task with an owner and a due date (its owner is reminded before it is due)",
        request=RegulatoryTaskCreateSerializer,
        responses={201: RegulatoryTaskSerializer},
    )
    @action(detail=True, methods=["post"], url_path="tasks")
    def add_task(self, request: Request, pk: str | None = None) -> Response:
        body = RegulatoryTaskCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        task = regulatory.task_add(change=self.get_object(), **body.validated_data, actor=request.user)
        return Response(RegulatoryTaskSerializer(task).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="List regulatory tasks (soonest due first)"),
    retrieve=extend_schema(summary="A regulatory task"),
)
class RegulatoryTaskViewSet(ReadViewSet):
    queryset = RegulatoryTask.objects.order_by("due_on", "pk")
    serializer_class = RegulatoryTaskSerializer

    def get_permissions(self) -> Any:
        return [ChangePermission()] if self.action == "complete" else super().get_permissions()

    @extend_schema(summary="Mark a task done", request=None, responses={200: RegulatoryTaskSerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str | None = None) -> Response:
        task = regulatory.task_complete(task=self.get_object(), actor=request.user)
        return Response(RegulatoryTaskSerializer(task).data)
