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
from django.http import StreamingHttpResponse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from opsgov.admin_export import csv_response
from opsgov.api.pagination import CursorPagination
from opsgov.api.parsers import JSONParser
from opsgov.api.permissions import RoleModelPermissions

from .. import access_reviews, alerts, assessments, services, training
from ..filters import (
    AccessReviewFilterSet,
    AssessmentFilterSet,
    AssessmentFindingFilterSet,
    AssetFilterSet,
    ComponentFilterSet,
    CourseFilterSet,
    FindingFilterSet,
    ReviewedAccountFilterSet,
    TrainingRecordFilterSet,
)
from ..models import (
    AccessReviewCampaign,
    Assessment,
    AssessmentFinding,
    Asset,
    AssetMappingRule,
    Component,
    Course,
    Finding,
    ReviewedAccount,
    RiskAcceptance,
    Scan,
    SecurityAlert,
    TrainingRecord,
)
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
        # Only the columns the serializer shows: a page of 50 rows with every column of the finding, its
        # asset, service and owner (passwords included) costs more to read than the query does to run.
        return finding_list(timezone.now()).only(*s.FindingSerializer.COLUMNS)

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


# --- Access reviews, training, assessments ---------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List access review campaigns (newest first)"),
    retrieve=extend_schema(summary="An access review campaign with its row counts"),
)
class AccessReviewViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Access review campaigns: opsgov's users and groups plus other systems' accounts (CSV), decided row by row.

    Closing applies the decisions about opsgov accounts (deactivate, remove from groups), audited.
    """

    queryset = access_reviews.campaigns().order_by("-opened_at", "-id")
    serializer_class = s.AccessReviewCampaignSerializer
    parser_classes = [JSONParser]
    filterset_class = AccessReviewFilterSet

    def _answer(self, campaign: AccessReviewCampaign, code: int = status.HTTP_200_OK) -> Response:
        return Response(s.AccessReviewCampaignSerializer(self.get_queryset().get(pk=campaign.pk)).data, status=code)

    @extend_schema(
        summary="Open a campaign (lists opsgov's active users and their groups)",
        request=s.AccessReviewOpenSerializer,
        responses={201: s.AccessReviewCampaignSerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = s.AccessReviewOpenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = access_reviews.open_campaign(**serializer.validated_data, actor=request.user)
        return self._answer(campaign, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Import another system's accounts (CSV: system,account,person,entitlements,last_login)",
        request=s.CsvBodySerializer,
        responses={200: s.AccessReviewCampaignSerializer},
    )
    @action(detail=True, methods=["post"], url_path="import-accounts", permission_classes=[ChangePermission])
    def import_accounts(self, request: Request, pk: str) -> Response:
        serializer = s.CsvBodySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = self.get_object()
        access_reviews.import_accounts(campaign=campaign, text=serializer.validated_data["csv"])
        return self._answer(campaign)

    @extend_schema(
        summary="Close: every row decided; applies the decisions about opsgov accounts",
        request=None,
        responses={200: s.AccessReviewCampaignSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def close(self, request: Request, pk: str) -> Response:
        return self._answer(access_reviews.close_campaign(campaign=self.get_object(), actor=request.user))

    @extend_schema(summary="The auditors' report (CSV)", responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=True, methods=["get"])
    def report(self, request: Request, pk: str) -> StreamingHttpResponse:
        campaign = self.get_object()
        return csv_response(
            f"access-review-{campaign.pk}.csv", access_reviews.REPORT_COLUMNS, access_reviews.report_rows(campaign)
        )


@extend_schema_view(
    list=extend_schema(summary="List reviewed accounts"),
    retrieve=extend_schema(summary="A reviewed account"),
)
class ReviewedAccountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The rows of access review campaigns; a reviewer decides each (not their own account: four eyes)."""

    queryset = ReviewedAccount.objects.select_related("user", "decided_by").order_by(
        "campaign_id", "system", "account", "id"
    )
    serializer_class = s.ReviewedAccountSerializer
    parser_classes = [JSONParser]
    filterset_class = ReviewedAccountFilterSet

    @extend_schema(
        summary="Decide: keep, revoke or change (with the entitlements to remove)",
        request=s.AccessDecisionSerializer,
        responses={200: s.ReviewedAccountSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def decide(self, request: Request, pk: str) -> Response:
        serializer = s.AccessDecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = access_reviews.decide(row=self.get_object(), **serializer.validated_data, actor=request.user)
        return Response(s.ReviewedAccountSerializer(row).data)


@extend_schema_view(
    list=extend_schema(summary="List awareness courses"),
    retrieve=extend_schema(summary="An awareness course"),
    create=extend_schema(summary="Add a course (assigned to its roles)"),
    update=extend_schema(summary="Change a course"),
    partial_update=extend_schema(summary="Change some fields of a course"),
)
class CourseViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Awareness courses with a recurrence and an audience, assigned by role."""

    queryset = Course.objects.prefetch_related("roles").order_by("title", "id")
    serializer_class = s.CourseSerializer
    parser_classes = [JSONParser]
    filterset_class = CourseFilterSet

    @extend_schema(
        summary="Completion by course and role now (paginated)",
        parameters=[OpenApiParameter("audience", str, description="Only courses of this audience.")],
        responses={200: s.TrainingCompletionSerializer(many=True)},
    )
    @action(detail=False, methods=["get"])
    def completion(self, request: Request) -> Response:
        rows = training.completion_by_role(audience=request.query_params.get("audience", ""), now=timezone.now())
        # PageNumberPagination pages any sequence (Django's Paginator); the stubs name querysets only.
        page = self.paginate_queryset([{**row.__dict__, "rate": row.rate} for row in rows])  # type: ignore[arg-type]
        return self.get_paginated_response(s.TrainingCompletionSerializer(page, many=True).data)

    @extend_schema(
        summary="Who is overdue now (paginated)",
        parameters=[OpenApiParameter("audience", str, description="Only courses of this audience.")],
        responses={200: s.TrainingOverdueSerializer(many=True)},
    )
    @action(detail=False, methods=["get"])
    def overdue(self, request: Request) -> Response:
        rows = training.overdue_list(audience=request.query_params.get("audience", ""), now=timezone.now())
        page = self.paginate_queryset(rows)  # type: ignore[arg-type]  # a list, as above
        return self.get_paginated_response(s.TrainingOverdueSerializer(page, many=True).data)


class TrainingRecordCursorPagination(CursorPagination):
    ordering = ("-completed_at", "-id")


@extend_schema_view(
    list=extend_schema(summary="List training completions (newest first)"),
    retrieve=extend_schema(summary="A training completion"),
)
class TrainingRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Who completed which course when: recorded by hand or imported from a learning system's CSV."""

    queryset = TrainingRecord.objects.select_related("course", "user", "recorded_by").order_by("-completed_at", "-id")
    serializer_class = s.TrainingRecordSerializer
    parser_classes = [JSONParser]
    pagination_class = TrainingRecordCursorPagination
    filterset_class = TrainingRecordFilterSet

    @extend_schema(
        summary="Record a completion by hand",
        request=s.TrainingRecordCreateSerializer,
        responses={201: s.TrainingRecordSerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = s.TrainingRecordCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = training.record_completion(**serializer.validated_data, actor=request.user)
        return Response(s.TrainingRecordSerializer(record).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Import completions (CSV: course,user,completed_at); all or nothing, errors by line",
        request=s.CsvBodySerializer,
        responses={200: s.TrainingImportResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="import")
    def import_csv(self, request: Request) -> Response:
        serializer = s.CsvBodySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = training.import_records(text=serializer.validated_data["csv"], actor=request.user)
        return Response(s.TrainingImportResultSerializer(result).data)


@extend_schema_view(
    list=extend_schema(summary="List security assessments (pentests, reviews)"),
    retrieve=extend_schema(summary="A security assessment"),
    create=extend_schema(summary="Record a security assessment"),
    update=extend_schema(summary="Change a security assessment"),
    partial_update=extend_schema(summary="Change some fields of a security assessment"),
)
class AssessmentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Pentests and security reviews; their findings join the findings list (source "assessment")."""

    queryset = Assessment.objects.select_related("asset").order_by("-started_on", "-id")
    serializer_class = s.AssessmentSerializer
    parser_classes = [JSONParser]
    filterset_class = AssessmentFilterSet

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = assessments.create_assessment(**serializer.validated_data, actor=self.request.user)

    @extend_schema(
        summary="Record a finding of the assessment (on the SLA clock of its severity)",
        request=s.AssessmentFindingCreateSerializer,
        responses={201: s.AssessmentFindingSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def findings(self, request: Request, pk: str) -> Response:
        serializer = s.AssessmentFindingCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = assessments.record_finding(assessment=self.get_object(), **serializer.validated_data)
        return Response(s.AssessmentFindingSerializer(item).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="List assessment findings"),
    retrieve=extend_schema(summary="An assessment finding"),
)
class AssessmentFindingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The findings of assessments, with their place in the findings list; their status changes by hand."""

    queryset = AssessmentFinding.objects.select_related("finding__asset__service", "finding__owner").order_by(
        "assessment_id", "reference", "id"
    )
    serializer_class = s.AssessmentFindingSerializer
    parser_classes = [JSONParser]
    filterset_class = AssessmentFindingFilterSet

    @extend_schema(
        summary="Set the status: fixed, not applicable (with a justification) or open again",
        request=s.AssessmentFindingStatusSerializer,
        responses={200: s.AssessmentFindingSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def status(self, request: Request, pk: str) -> Response:
        serializer = s.AssessmentFindingStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = self.get_object()
        assessments.set_status(item=item, **serializer.validated_data)
        return Response(s.AssessmentFindingSerializer(self.get_queryset().get(pk=item.pk)).data)
