"""Security API: assets, mapping rules, scan imports, findings, the SBOM inventory, risk acceptances.

Thin: reads from security.selectors with the FilterSets of security.filters, writes through
security.services; their ValidationError / PermissionDenied become 400 (with field paths) / 403.
Permissions are the model permissions of the caller's roles: the Security Lead owns (security.*);
SRE and DevOps Leads import scans and ask for risk acceptances; every role reads.

* ``POST /api/v1/security/scans/?asset=NAME[&report_format=F][&create_asset=true&service=S&kind=K]``: the
  body is the report (JSON). 201 with the scan it recorded, or 200 with ``created: false`` when the
  same report was imported already (nothing changed). A body no format reads is a 400 listing each
  format tried and why it failed (``report``: "trivy: $.Results[0].Target: ..."); an unknown asset
  with no mapping rule is a 400 on ``asset`` with the rule to add.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from opsgov.api.pagination import CursorPagination
from opsgov.api.parsers import JSONParser
from opsgov.api.permissions import RoleModelPermissions

from .. import alerts, services
from ..filters import AssetFilterSet, ComponentFilterSet, FindingFilterSet
from ..models import Asset, AssetMappingRule, Component, Finding, RiskAcceptance, Scan, SecurityAlert
from ..parsers import FormatError, UnknownFormat
from ..selectors import finding_list
from . import serializers as s


class ChangePermission(RoleModelPermissions):
    """For POST actions that change an existing record (approve, revoke): the change permission."""

    perms_map = {**RoleModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


@extend_schema_view(
    list=extend_schema(summary="List assets"),
    retrieve=extend_schema(summary="An asset"),
    create=extend_schema(summary="Declare an asset"),
    update=extend_schema(summary="Change an asset"),
    partial_update=extend_schema(summary="Change some fields of an asset"),
)
class AssetViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """What scanners scan (images, hosts, repositories, applications), linked to services and owners."""

    queryset = Asset.objects.select_related("service", "owner").order_by("name", "id")
    serializer_class = s.AssetSerializer
    filterset_class = AssetFilterSet
    ordering_fields = ["name", "last_scanned_at"]


@extend_schema_view(
    list=extend_schema(summary="List asset mapping rules (priority order)"),
    retrieve=extend_schema(summary="An asset mapping rule"),
    create=extend_schema(summary="Add an asset mapping rule"),
    update=extend_schema(summary="Change an asset mapping rule"),
    partial_update=extend_schema(summary="Change some fields of an asset mapping rule"),
    destroy=extend_schema(summary="Remove an asset mapping rule"),
)
class AssetMappingRuleViewSet(viewsets.ModelViewSet):
    """Shell-style patterns of artifact names mapped to services: a report for a new name creates its asset."""

    queryset = AssetMappingRule.objects.select_related("service").order_by("priority", "id")
    serializer_class = s.AssetMappingRuleSerializer
    ordering_fields = ["priority", "pattern"]


_IMPORT_PARAMETERS = [
    OpenApiParameter("asset", str, description="Asset name (default: the report's artifact name)."),
    OpenApiParameter(
        "format", str, enum=[choice for choice, _ in s.ScanFormat.choices], description="Default: detected."
    ),
    OpenApiParameter("create_asset", bool, description="Create an unknown asset (else a mapping rule must match)."),
    OpenApiParameter("service", str, description="Slug of the service of a created asset."),
    OpenApiParameter("kind", str, enum=[choice for choice, _ in s.AssetKind.choices]),
]


@extend_schema_view(
    list=extend_schema(summary="List imported scans (newest first)"),
    retrieve=extend_schema(summary="A scan with the report as received", responses=s.ScanDetailSerializer),
)
class ScanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Scanner reports imported for assets (the raw report is kept)."""

    queryset = Scan.objects.select_related("asset", "imported_by").order_by("-imported_at", "-id")
    serializer_class = s.ScanSerializer
    parser_classes = [JSONParser]
    ordering_fields = ["imported_at"]

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return s.ScanDetailSerializer if self.action == "retrieve" else s.ScanSerializer

    @extend_schema(
        summary="Import a scanner report (the body) for an asset",
        parameters=_IMPORT_PARAMETERS,
        request={"application/json": OpenApiTypes.ANY},
        responses={201: s.ScanImportResultSerializer, 200: s.ScanImportResultSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = s.ScanImportQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        params = query.validated_data
        try:
            result = services.import_scan(
                report=request.data,
                asset_name=params.get("asset") or None,
                format=params.get("report_format"),
                create_asset=params.get("create_asset", False),
                service=params.get("service"),
                kind=params.get("kind"),
                actor=request.user,
            )
        except UnknownFormat as exc:
            raise serializers.ValidationError(
                {"report": [f"{name}: {error.path}: {error.message}" for name, error in exc.tried.items()]}
            ) from None
        body = s.ScanImportResultSerializer({"created": result.created, "scan": result.scan}).data
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class FindingCursorPagination(CursorPagination):
    """Newest first, the order of the first-seen index; no COUNT(*) (a million findings list as fast as a thousand)."""

    ordering = ("-first_seen_at", "-id")


@extend_schema_view(
    list=extend_schema(summary="List findings (newest first, cursor-paginated)"),
    retrieve=extend_schema(summary="A finding"),
)
class FindingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Vulnerabilities in packages of assets, on the SLA clock of their severity."""

    queryset = Finding.objects.all()  # the model for permissions; rows from get_queryset()
    serializer_class = s.FindingSerializer
    filterset_class = FindingFilterSet
    filter_backends = [DjangoFilterBackend]  # the cursor fixes the order: no client ordering
    pagination_class = FindingCursorPagination

    def get_queryset(self) -> QuerySet[Finding]:
        return finding_list(timezone.now())

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}


@extend_schema_view(list=extend_schema(summary="Search the SBOM inventory (e.g. ?name=django&version=4.2.10)"))
class ComponentViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Packages of each asset's latest SBOM: which assets, and so which services, run a package version."""

    queryset = Component.objects.select_related("asset", "asset__service").order_by("name", "version", "asset_id")
    serializer_class = s.ComponentSerializer
    filterset_class = ComponentFilterSet
    ordering_fields = ["name", "version"]


@extend_schema_view(
    list=extend_schema(summary="List risk acceptances"),
    retrieve=extend_schema(summary="A risk acceptance"),
)
class RiskAcceptanceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Accepted risks of findings: four eyes (a Security Lead other than the requester approves), at most a year."""

    queryset = RiskAcceptance.objects.select_related("requested_by", "approver", "revoked_by").order_by(
        "-created_at", "-id"
    )
    serializer_class = s.RiskAcceptanceSerializer
    ordering_fields = ["created_at", "expires_at"]

    def _answer(self, acceptance: RiskAcceptance, code: int = status.HTTP_200_OK) -> Response:
        return Response(s.RiskAcceptanceSerializer(acceptance).data, status=code)

    @extend_schema(
        summary="Ask a Security Lead to accept a finding's risk",
        request=s.RiskAcceptanceRequestSerializer,
        responses={201: s.RiskAcceptanceSerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = s.RiskAcceptanceRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        acceptance = services.acceptance_request(**serializer.validated_data, requested_by=request.user)
        return self._answer(acceptance, status.HTTP_201_CREATED)

    @extend_schema(summary="Approve (the named approver)", request=None, responses={200: s.RiskAcceptanceSerializer})
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def approve(self, request: Request, pk: str) -> Response:
        return self._answer(services.acceptance_approve(acceptance=self.get_object(), actor=request.user))

    @extend_schema(summary="Revoke", request=s.RevokeSerializer, responses={200: s.RiskAcceptanceSerializer})
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def revoke(self, request: Request, pk: str) -> Response:
        serializer = s.RevokeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        acceptance = services.acceptance_revoke(
            acceptance=self.get_object(), actor=request.user, reason=serializer.validated_data["reason"]
        )
        return self._answer(acceptance)


@extend_schema_view(
    list=extend_schema(summary="The security alert queue (newest first)"),
    retrieve=extend_schema(summary="A security alert"),
)
class SecurityAlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Falco, webhook and opsgov's own security alerts: acknowledge, triage, close with a disposition.

    POST the alert (a Falco JSON alert, a generic webhook alert, or a list of them) to receive it; closing
    as a true positive escalates to a security incident.
    """

    queryset = SecurityAlert.objects.select_related("service", "acknowledged_by", "closed_by").order_by(
        "-received_at", "-id"
    )
    serializer_class = s.SecurityAlertSerializer
    parser_classes = [JSONParser]
    filterset_fields = ["status", "severity", "source", "disposition"]
    ordering_fields = ["received_at", "severity"]

    @extend_schema(
        summary="Receive alerts (Falco HTTP output or a generic JSON webhook)",
        request={"application/json": OpenApiTypes.ANY},
        responses={201: s.SecurityAlertSerializer(many=True)},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            received = alerts.receive(body=request.data)
        except FormatError as error:
            raise serializers.ValidationError({"alert": [f"{error.path}: {error.message}"]}) from None
        return Response(s.SecurityAlertSerializer(received, many=True).data, status=status.HTTP_201_CREATED)

    def _answer(self, alert: SecurityAlert) -> Response:
        return Response(s.SecurityAlertSerializer(alert).data)

    @extend_schema(summary="Acknowledge", request=None, responses={200: s.SecurityAlertSerializer})
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def acknowledge(self, request: Request, pk: str) -> Response:
        return self._answer(alerts.acknowledge(alert=self.get_object(), actor=request.user))

    @extend_schema(summary="Triage", request=s.AlertTriageSerializer, responses={200: s.SecurityAlertSerializer})
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def triage(self, request: Request, pk: str) -> Response:
        serializer = s.AlertTriageSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._answer(alerts.triage(alert=self.get_object(), actor=request.user, **serializer.validated_data))

    @extend_schema(
        summary="Close with a disposition (a true positive escalates to an incident)",
        request=s.AlertCloseSerializer,
        responses={200: s.SecurityAlertSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def close(self, request: Request, pk: str) -> Response:
        serializer = s.AlertCloseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._answer(alerts.close(alert=self.get_object(), actor=request.user, **serializer.validated_data))
