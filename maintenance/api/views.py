"""Viewsets of the maintenance API (DevOps Lead owns; Product Owner approves windows; the leads approve changes).

Writes go through maintenance.services, whose DomainErrors answer 400 with the
field. The patch-report endpoint takes a host token (``Authorization: Bearer``),
not a user: 401 for an unknown one.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authentication import BaseAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from opsgov.api.permissions import RoleModelPermissions
from opsgov.roles import DEVOPS_LEAD, PRODUCT_OWNER, TECH_LEAD

from .. import parsing, services
from ..models import (
    ChangeIntegration,
    ChangeRecord,
    ChangeTemplate,
    Component,
    EndOfLife,
    FreezePeriod,
    Host,
    MaintenanceAutomation,
    MaintenanceLog,
    MaintenanceWindow,
    PatchObligation,
    UpgradePlan,
    hash_token,
)
from . import serializers as s


class ViewPermission(RoleModelPermissions):
    """Actions any reader may attempt (approvals): the service checks the approver's role."""

    perms_map = {**RoleModelPermissions.perms_map, "POST": ["%(app_label)s.view_%(model_name)s"]}


class WindowViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Maintenance windows per group of services (RFC 5545 rule or cron, in a time zone)."""

    queryset = (
        MaintenanceWindow.objects.prefetch_related("services")
        .select_related("approved_by", "withdrawn_by")
        .order_by("name")
    )
    http_method_names = ["get", "post", "patch", "head", "options"]
    serializer_class = s.WindowSerializer
    lookup_field = "uuid"
    filterset_fields = ["kind"]

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.create_window(
            name=data["name"],
            services=data["services"],
            first_start=data["first_start"],
            duration=data["duration"],
            timezone_name=data.get("timezone", "UTC"),
            kind=data.get("kind", "rrule"),
            rrule=data.get("rrule", ""),
            cron=data.get("cron", ""),
            notes=data.get("notes", ""),
        )

    @extend_schema(request=None, responses={200: s.WindowSerializer})
    @action(detail=True, methods=["post"], permission_classes=[ViewPermission])
    def approve(self, request: Request, uuid: str) -> Response:
        """Approve the window (Product Owner): it becomes active."""
        window = self.get_object()
        if not services.has_role(request.user, PRODUCT_OWNER):
            raise PermissionDenied("Only a Product Owner approves maintenance windows.")
        window = services.approve_window(window=window, user=request.user)
        return Response(self.get_serializer(window).data)

    def perform_update(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.edit_window(window=serializer.instance, changes=data, user=self.request.user)

    @extend_schema(request=s.WithdrawSerializer, responses={200: s.WindowSerializer})
    @action(detail=True, methods=["post"], permission_classes=[ViewPermission])
    def withdraw(self, request: Request, uuid: str) -> Response:
        """Withdraw the window (DevOps Lead or Product Owner): it stops counting; the record and its history stay."""
        window = self.get_object()
        body = s.WithdrawSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if not (services.has_role(request.user, DEVOPS_LEAD) or services.has_role(request.user, PRODUCT_OWNER)):
            raise PermissionDenied("A DevOps Lead or a Product Owner withdraws maintenance windows.")
        window = services.withdraw_window(window=window, user=request.user, reason=body.validated_data["reason"])
        return Response(self.get_serializer(self.get_queryset().get(pk=window.pk)).data)


class ChangeTemplateViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Standard-change templates (DevOps Lead writes; the Tech Lead, or the Security Lead for security patches,
    pre-approves each once)."""

    queryset = ChangeTemplate.objects.prefetch_related("services").select_related("approved_by").order_by("name")
    serializer_class = s.ChangeTemplateSerializer
    lookup_field = "uuid"
    filterset_fields = ["category"]

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.create_template(
            name=data["name"],
            services=data["services"],
            category=data.get("category", "technical"),
            description=data.get("description", ""),
            risk=data.get("risk", "low"),
            backout_plan=data.get("backout_plan", ""),
        )

    @extend_schema(request=None, responses={200: s.ChangeTemplateSerializer})
    @action(detail=True, methods=["post"], permission_classes=[ViewPermission])
    def approve(self, request: Request, uuid: str) -> Response:
        """Pre-approve the template (Tech Lead; Security Lead for security patches)."""
        template = self.get_object()
        role = services.template_approver_role(template.category)
        if not services.has_role(request.user, role):
            raise PermissionDenied(f"A {role} approves this template.")
        template = services.approve_template(template=template, user=request.user)
        return Response(self.get_serializer(self.get_queryset().get(pk=template.pk)).data)

    @extend_schema(request=None, responses={200: s.ChangeTemplateSerializer})
    @action(detail=True, methods=["post"])
    def retire(self, request: Request, uuid: str) -> Response:
        """Retire the template: no more changes from it."""
        template = services.retire_template(template=self.get_object())
        return Response(self.get_serializer(self.get_queryset().get(pk=template.pk)).data)


class AutomationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Maintenance automation: a job (a weekly VACUUM ANALYZE) reports an activity by pinging its `ping_url`."""

    queryset = MaintenanceAutomation.objects.select_related("service").order_by("name")
    serializer_class = s.AutomationSerializer
    lookup_field = "uuid"
    filterset_fields = ["activity"]

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        serializer.instance = services.create_automation(
            name=data["name"], service=data["service"], activity=data["activity"]
        )


class FreezeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Freeze periods: no normal change may be scheduled inside one."""

    queryset = FreezePeriod.objects.prefetch_related("services").order_by("name")
    serializer_class = s.FreezeSerializer
    lookup_field = "uuid"

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.create_freeze(
            name=data["name"],
            services=data.get("services", []),
            starts_at=data.get("starts_at"),
            ends_at=data.get("ends_at"),
            freeze_start=data.get("freeze_start", ""),
            freeze_end=data.get("freeze_end", ""),
            timezone_name=data.get("timezone", "UTC"),
            reason=data.get("reason", ""),
        )


class ChangeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Change records: standard, normal, emergency; approvals and conflict flags."""

    queryset = (
        ChangeRecord.objects.prefetch_related("services", "approvals__approved_by", "incident_links")
        .select_related("window")
        .order_by("-created_at", "-id")
    )
    serializer_class = s.ChangeSerializer
    lookup_field = "uuid"
    filterset_fields = ["kind", "state", "category", "outcome", "outside_window", "in_freeze"]

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.create_change(
            title=data.get("title", ""),
            services=data.get("services", []),
            template=data.get("template"),
            kind=data.get("kind", "normal"),
            category=data.get("category", "technical"),
            description=data.get("description", ""),
            risk=data.get("risk", "low"),
            backout_plan=data.get("backout_plan", ""),
            planned_start=data.get("planned_start"),
            planned_end=data.get("planned_end"),
            user=self.request.user,
        )

    def _fresh(self, change: ChangeRecord) -> Response:
        return Response(s.ChangeSerializer(self.get_queryset().get(pk=change.pk)).data)

    @extend_schema(request=s.AdvanceSerializer, responses={200: s.ChangeSerializer})
    @action(detail=True, methods=["post"], permission_classes=[RoleModelPermissions])
    def advance(self, request: Request, uuid: str) -> Response:
        """Move the change to its next state (scheduling needs the approvals; closing an outcome)."""
        change = self.get_object()
        body = s.AdvanceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        change = services.advance_change(
            change=change,
            to_state=body.validated_data["state"],
            outcome=body.validated_data.get("outcome", ""),
            user=request.user,
        )
        return self._fresh(change)

    @extend_schema(request=s.ApproveChangeSerializer, responses={200: s.ChangeSerializer})
    @action(detail=True, methods=["post"], permission_classes=[ViewPermission])
    def approve(self, request: Request, uuid: str) -> Response:
        """Give one of the approvals the change needs (each reason has its role)."""
        change = self.get_object()
        body = s.ApproveChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reason = body.validated_data["reason"]
        if not services.has_role(request.user, services.APPROVER_ROLES[reason]):
            raise PermissionDenied(f"The {reason} approval is given by a {services.APPROVER_ROLES[reason]}.")
        services.approve_change(
            change=change, reason=reason, user=request.user, comment=body.validated_data.get("comment", "")
        )
        return self._fresh(change)


class IntegrationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Change integrations: CI posts PagerDuty change events with their routing key."""

    queryset = ChangeIntegration.objects.select_related("service").order_by("name")
    serializer_class = s.ChangeIntegrationSerializer
    lookup_field = "uuid"

    def perform_create(self, serializer: Any) -> None:
        integration, token = services.create_change_integration(
            name=serializer.validated_data["name"], service=serializer.validated_data["service"]
        )
        integration.new_token = token  # type: ignore[attr-defined]
        serializer.instance = integration


class LogViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Maintenance performed; automation (a VACUUM job) posts here with its API token, source=automation."""

    queryset = MaintenanceLog.objects.select_related("service", "change", "performed_by").order_by(
        "-performed_at", "-id"
    )
    serializer_class = s.LogSerializer
    filterset_fields = ["activity", "outcome", "source"]

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.record_log(
            service=data["service"],
            activity=data["activity"],
            performed_at=data["performed_at"],
            duration=data.get("duration"),
            outcome=data.get("outcome", "done"),
            notes=data.get("notes", ""),
            change=data.get("change"),
            source=data.get("source", "manual"),
            user=self.request.user,
        )


class HostViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Hosts that post patch reports with their own token."""

    queryset = Host.objects.select_related("service").order_by("name")
    serializer_class = s.HostSerializer
    lookup_field = "uuid"

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        host, token = services.create_host(
            name=data["name"], service=data.get("service"), timezone_name=data.get("timezone", "UTC")
        )
        host.new_token = token  # type: ignore[attr-defined]
        serializer.instance = host


class ObligationViewSet(viewsets.ReadOnlyModelViewSet):
    """Patch obligations: one per (asset, required update), with its deadline from the policy."""

    queryset = PatchObligation.objects.select_related("service").order_by("due_at", "id")
    serializer_class = s.ObligationSerializer
    filterset_fields = ["asset", "patch_class", "source"]


class HostTokenAuthentication(BaseAuthentication):
    """A host's token in ``Authorization: Bearer``; the request runs without a user (request.auth is the host)."""

    def authenticate(self, request: Request) -> tuple[Any, Host] | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("Send the host token as 'Authorization: Bearer <token>'.")
        try:
            host = Host.objects.get(token_hash=hash_token(token.strip()))  # unique: one index lookup
        except Host.DoesNotExist:
            raise AuthenticationFailed("Unknown host token.") from None
        return (None, host)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="opsgov host"'


#: Accept headers that DRF's content negotiation answers with its JSONRenderer (the first renderer).
_JSON_ACCEPTS = frozenset({"", "*/*", "application/json"})

#: The largest body read for a raw repeat (record_raw_repeat); larger reports go through DRF, unread here.
RAW_REPEAT_MAX_BYTES = 1024 * 1024


def _sent_fields(request: HttpRequest) -> dict[str, str] | None:
    """The report's fields as sent, read the way DRF's parsers read them (JSON, form, multipart), or None when the
    body is anything else (then DRF reads it and answers what it answers). Reads ``request.body`` first: DRF reads
    its own copy afterwards with its own parsers."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= RAW_REPEAT_MAX_BYTES:
        return None
    charset = (request.content_params or {}).get("charset", "utf-8").lower()
    if request.content_type == "application/json" and charset in ("utf-8", "utf8"):
        try:
            data = json.loads(request.body.decode("utf-8"))  # as DRF's JSONParser decodes it
        except (ValueError, RecursionError):  # UnicodeDecodeError too
            return None
        return _string_fields(data)
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        request.body  # noqa: B018  (kept by Django, so that DRF parses its own copy of it)
        try:
            return None if request.FILES else _string_fields(request.POST)
        except (MultiPartParserError, SuspiciousOperation):  # DRF parses the body again and answers
            return None
    return None


def _string_fields(data: Any) -> dict[str, str] | None:
    """`data` (parsed JSON, or a form's QueryDict) as {name: text}, or None unless every field is one string."""
    if isinstance(data, QueryDict):
        fields: dict[str, Any] = {}
        for name, values in data.lists():
            if len(values) != 1:
                return None
            fields[name] = values[0]
    elif isinstance(data, dict):
        fields = data
    else:
        return None
    return fields if all(isinstance(value, str) for value in fields.values()) else None


class PatchReportView(APIView):
    """``POST /api/v1/maintenance/patch-reports/``: a host's patch state, parsed here (400 naming the line)."""

    authentication_classes = [HostTokenAuthentication]
    permission_classes = [AllowAny]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """A report whose fields are, as sent, those of its host's last one (``services.raw_report_digest``: the
        steady state of a host that reports daily) is answered before DRF's request handling: one UPDATE finds the
        host by its token's hash and moves its ``last_report_at`` (services.record_raw_repeat), with the answer DRF
        would render. Anything else (an unknown token, another report, a body DRF would parse differently or
        refuse, an answer in another format) goes through DRF (``post``), unchanged. The class's docstring is
        the schema's description."""
        if request.method == "POST":
            answer = self._raw_repeat(request)
            if answer is not None:
                return answer
        return super().dispatch(request, *args, **kwargs)

    def _raw_repeat(self, request: HttpRequest) -> HttpResponse | None:
        # Only what DRF would answer in JSON: no format asked in the query, no other media type accepted first.
        if request.META.get("QUERY_STRING") or request.headers.get("Accept", "*/*").strip() not in _JSON_ACCEPTS:
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        fields = _sent_fields(request)
        if fields is None:
            return None
        seen = services.record_raw_repeat(
            token_hash=hash_token(token.strip()), raw_digest=services.raw_report_digest(fields)
        )
        if seen is None:
            return None
        body = {
            "host": seen.host_name,
            "received_at": seen.received_at,
            "pending": seen.pending,
            "security": seen.security,
            "installed": 0,
            "reboot_required": seen.reboot_required,
        }
        headers = self.default_response_headers
        vary = headers.pop("Vary", None)
        content = JSONRenderer().render(body)
        answer = HttpResponse(content, status=202, content_type="application/json", headers=headers)
        if vary:
            patch_vary_headers(answer, [vary])
        return answer

    @extend_schema(
        request=s.PatchReportSerializer,
        responses={
            202: s.PatchReportAnswerSerializer,
            400: OpenApiResponse(description="A part of the report does not parse (the part and line are named)."),
            401: OpenApiResponse(description="No or unknown host token."),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        # The host token was checked by HostTokenAuthentication before the view ran.
        body = s.PatchReportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        host = request.auth
        if not isinstance(host, Host):
            raise AuthenticationFailed("Unknown host token.")
        data = body.validated_data
        reboot = {"yes": True, "no": False}.get(data.get("reboot_required", "unknown"))
        try:
            outcome = services.record_patch_report(
                raw_digest=services.raw_report_digest(fields) if (fields := _string_fields(request.data)) else "",
                host=host,
                apt_simulate=data["apt_simulate"],
                history=data.get("history", ""),
                needrestart=data.get("needrestart", ""),
                reboot_required=reboot,
                reboot_packages=[p for p in data.get("reboot_packages", "").split() if p],
                timezone_name=data.get("timezone", ""),
                received_at=timezone.now(),
            )
        except parsing.ReportError as error:
            raise ValidationError({error.part: [str(error)]}) from None
        return Response(
            {
                "host": host.name,
                "received_at": outcome.received_at,
                "pending": outcome.pending,
                "security": outcome.security,
                "installed": outcome.installed,
                "reboot_required": outcome.reboot_required,
            },
            status=status.HTTP_202_ACCEPTED,
        )


class RenovateReportView(APIView):
    """``POST /api/v1/maintenance/renovate-reports/``: a Renovate ``reportType=file`` report (DevOps Lead)."""

    permission_classes = [RoleModelPermissions]

    def get_queryset(self) -> QuerySet[PatchObligation]:  # for the model permission
        return PatchObligation.objects.none()

    @extend_schema(
        request=s.RenovateReportSerializer,
        responses={202: inline_serializer("RenovateAnswer", {"updates": serializers.IntegerField()})},
    )
    def post(self, request: Request) -> Response:
        body = s.RenovateReportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            count = services.record_renovate_report(
                data=body.validated_data["report"], service=body.validated_data.get("service")
            )
        except parsing.ReportError as error:
            raise ValidationError({error.part: [str(error)]}) from None
        return Response({"updates": count}, status=status.HTTP_202_ACCEPTED)


class ComponentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Component versions per service (a second POST for the same service and product updates the version)."""

    queryset = Component.objects.select_related("service").order_by("service__slug", "product", "id")
    serializer_class = s.ComponentSerializer
    filterset_fields = ["product"]

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        serializer.instance = services.record_component(
            service=data["service"], product=data["product"], version=data["version"]
        )


class UpgradePlanViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Upgrade plans (target version, owner, due date), approved by a Tech Lead."""

    queryset = UpgradePlan.objects.select_related("component", "owner", "approved_by").order_by("due_date", "id")
    serializer_class = s.UpgradePlanSerializer
    lookup_field = "uuid"

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        serializer.instance = services.create_upgrade_plan(
            component=data["component"],
            target_version=data["target_version"],
            owner=data["owner"],
            due_date=data["due_date"],
            notes=data.get("notes", ""),
        )

    @extend_schema(request=None, responses={200: s.UpgradePlanSerializer})
    @action(detail=True, methods=["post"], permission_classes=[ViewPermission])
    def approve(self, request: Request, uuid: str) -> Response:
        """Approve the plan (Tech Lead)."""
        plan = self.get_object()
        if not services.has_role(request.user, TECH_LEAD):
            raise PermissionDenied("A Tech Lead approves upgrade plans.")
        return Response(self.get_serializer(services.approve_upgrade_plan(plan=plan, user=request.user)).data)


class EolImportView(APIView):
    """``POST /api/v1/maintenance/end-of-life/``: import a product's end-of-life table (DevOps Lead)."""

    permission_classes = [RoleModelPermissions]

    def get_queryset(self) -> QuerySet[EndOfLife]:  # for the model permission
        return EndOfLife.objects.none()

    @extend_schema(
        request=s.EolImportSerializer,
        responses={200: inline_serializer("EolImportAnswer", {"cycles": serializers.IntegerField()})},
    )
    def post(self, request: Request) -> Response:
        body = s.EolImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        count = services.import_eol(product=body.validated_data["product"], rows=body.validated_data["cycles"])
        return Response({"cycles": count})
