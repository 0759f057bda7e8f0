"""API of backups & DR (routed by backups.api.urls under /api/v1/).

Routes:

* ``backups/jobs/`` (list, create, retrieve, update; no delete: runs are evidence) with each job's ping
  URL and computed checks; ``backups/jobs/<id>/reports/`` (POST): a tool's report as the raw request
  body (any content type), ``?report_format=`` naming it (else detected; ``format`` is DRF's renderer
  choice) and ``?exit_status=`` the tool's exit status; answers what was stored. A report that does not
  parse is a 400 naming the line or field path, and nothing of it is stored. Re-sending a report changes nothing.
* ``backups/runs/`` (read-only), ``backups/restore-tests/`` (list, create, retrieve: RTO and RPO are
  measured from the given instants), ``backups/drills/`` (list, create, retrieve: issues found become
  improvement-backlog items; the owner an SRE Lead, the caller by default), ``backups/drills/<id>/approvals/``
  (POST ``{"kind": "data_protection"|"compliance", "note": ...}``: the Security Lead / the Compliance
  Officer validates, never the drill's owner; once per kind), ``backups/plans/`` (CRUD but delete).

Permissions are the roles' model permissions (opsgov.roles): the SRE Lead and DevOps Lead write; the
Security Lead and the Compliance Officer read, and validate drills.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiTypes,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import mixins, parsers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.validators import UniqueValidator

from opsgov.api.fields import AwareDateTimeField
from opsgov.api.strict import StrictModelSerializer
from opsgov.errors import DomainError
from opsgov.models import Service
from opsgov.policy import get_policy
from opsgov.roles import SRE_LEAD

from .. import parsers as report_parsers
from .. import selectors, services
from ..models import BackupJob, BackupRun, DRDrill, DRDrillApproval, DRPlan, RestoreResult, RestoreTest
from .filters import BackupJobFilterSet, BackupRunFilterSet, DRDrillFilterSet, RestoreTestFilterSet


class SecondsField(serializers.Field):
    """A duration as whole seconds, at least `minimum` (at most 10 years)."""

    minimum = 60
    default_error_messages = {"invalid": "A whole number of seconds from {minimum} to 10 years."}

    def to_representation(self, value: timedelta) -> int:
        return int(value.total_seconds())

    def to_internal_value(self, data: Any) -> timedelta:
        text = str(data).strip() if isinstance(data, int | str) and not isinstance(data, bool) else ""
        if (
            not (text.isascii() and text.isdigit())
            or len(text) > 9
            or not self.minimum <= int(text) <= 10 * 366 * 86400
        ):
            self.fail("invalid", minimum=self.minimum)
        return timedelta(seconds=int(text))


@extend_schema_field({"type": "integer", "minimum": 60, "maximum": 10 * 366 * 86400, "description": "Seconds."})
class PeriodField(SecondsField):
    """The interval and the grace period: at least a minute."""


@extend_schema_field({"type": "integer", "minimum": 0, "maximum": 10 * 366 * 86400, "description": "Seconds."})
class OffsetField(SecondsField):
    """Where in each interval the slots fall (0: on the interval's multiples since the epoch)."""

    minimum = 0


class CheckSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField()
    detail = serializers.CharField()


class BackupJobSerializer(StrictModelSerializer):
    """A backup job. Jobs ping `ping_url` (healthchecks.io grammar) or post reports to `.../reports/`."""

    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all())
    data_type = serializers.CharField(max_length=32)
    interval = PeriodField(required=False, allow_null=True)
    offset = OffsetField(required=False)
    grace = PeriodField(required=False, allow_null=True)
    ping_url = serializers.CharField(read_only=True)
    checks = serializers.SerializerMethodField()

    class Meta:
        model = BackupJob
        fields = [
            "id",
            "uuid",
            "service",
            "data_type",
            "name",
            "tool",
            "interval",
            "offset",
            "cron",
            "timezone",
            "grace",
            "repository",
            "location",
            "encrypted",
            "owner",
            "active",
            "created_at",
            "ping_url",
            "n_pings",
            "n_rate_limited",
            "wal_archive_max",
            "last_success_at",
            "checks",
        ]
        read_only_fields = [
            "id",
            "uuid",
            "encrypted",
            "created_at",
            "ping_url",
            "n_pings",
            "n_rate_limited",
            "wal_archive_max",
            "last_success_at",
        ]

    def validate_data_type(self, value: str) -> str:
        known = get_policy().backups.data_types
        if value not in known:
            raise serializers.ValidationError(f"Not a data type of the policy: {', '.join(sorted(known))}.")
        return value

    @extend_schema_field(CheckSerializer(many=True))
    def get_checks(self, job: BackupJob) -> list[dict[str, str]]:
        return [
            {"key": c.key, "title": c.title, "status": str(c.status), "detail": c.detail}
            for c in selectors.job_checks(job, now=timezone.now())
        ]


class BackupRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = BackupRun
        fields = [
            "id",
            "job",
            "status",
            "source",
            "slot",
            "late",
            "started_at",
            "finished_at",
            "recorded_at",
            "size_bytes",
            "snapshot_id",
            "rid",
            "exit_status",
            "output",
            "output_truncated",
            "report_format",
            "error",
        ]
        read_only_fields = fields


class ImportResultSerializer(serializers.Serializer):
    format = serializers.CharField()
    runs_created = serializers.IntegerField()
    runs_unchanged = serializers.IntegerField()
    points_created = serializers.IntegerField()
    points_pruned = serializers.IntegerField()
    checks_created = serializers.IntegerField()
    restore = serializers.DictField(allow_null=True)


class RawTextParser(parsers.BaseParser):
    """Any body, as text (UTF-8): the reports are JSON, JSON lines or text, parsed by backups.parsers."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = stream.read(report_parsers.MAX_REPORT_BYTES + 1) if stream is not None else b""
        if len(data) > report_parsers.MAX_REPORT_BYTES:
            raise ValidationError({"report": f"At most {report_parsers.MAX_REPORT_BYTES} bytes."})
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValidationError({"report": f"Not UTF-8 (byte {error.start})."}) from error
        if "\x00" in text:
            raise ValidationError({"report": "Contains a NUL character."})
        return text


class BackupJobViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Backup jobs, per service and data type; schedule, grace and location default from the policy."""

    queryset = BackupJob.objects.select_related("service").order_by("pk")
    serializer_class = BackupJobSerializer
    filterset_class = BackupJobFilterSet
    ordering_fields = ["name", "created_at", "data_type"]

    def perform_create(self, serializer: Any) -> None:
        try:
            serializer.instance = services.job_create(**serializer.validated_data)
        except DomainError as error:
            raise ValidationError({"detail": str(error)}) from error

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.job_update(job=serializer.instance, **serializer.validated_data)

    @extend_schema(
        summary="Import a tool's report",
        request={"text/plain": OpenApiTypes.STR, "application/json": OpenApiTypes.STR},
        parameters=[
            OpenApiParameter("report_format", str, enum=list(report_parsers.FORMATS), required=False),
            OpenApiParameter("exit_status", int, required=False, description="0-255"),
        ],
        responses={201: ImportResultSerializer, 200: ImportResultSerializer},
    )
    @action(detail=True, methods=["post"], parser_classes=[RawTextParser], url_path="reports")
    def reports(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        if not request.user.has_perm("backups.add_backuprun"):
            self.permission_denied(request, message="Your roles do not allow recording backup runs.")
        fmt = request.query_params.get("report_format") or None
        if fmt is not None and fmt not in report_parsers.FORMATS:
            raise ValidationError({"report_format": f"One of: {', '.join(report_parsers.FORMATS)}."})
        exit_status = request.query_params.get("exit_status")
        code: int | None = None
        if exit_status is not None:
            if not (exit_status.isascii() and exit_status.isdigit() and int(exit_status) <= 255):
                raise ValidationError({"exit_status": "An integer 0-255."})
            code = int(exit_status)
        text = request.data if isinstance(request.data, str) else ""
        try:
            result = services.import_report(job=job, text=text, fmt=fmt, exit_status=code)
        except report_parsers.ReportError as error:
            raise ValidationError({error.path or "report": error.message}) from error
        created = result.runs_created or result.points_created or result.checks_created
        return Response(result.as_json(), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class BackupRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Runs: started, succeeded, failed, partial (a failure) and missed (recorded by the schedule)."""

    queryset = BackupRun.objects.order_by("-recorded_at", "-pk")
    serializer_class = BackupRunSerializer
    filterset_class = BackupRunFilterSet
    ordering_fields = ["recorded_at", "slot", "finished_at"]


class RestoreTestSerializer(StrictModelSerializer):
    started_at = AwareDateTimeField()
    verified_at = AwareDateTimeField()
    data_taken_at = AwareDateTimeField(required=False, allow_null=True)
    result = serializers.ChoiceField(choices=RestoreResult.choices)
    evidence = serializers.JSONField(required=False, allow_null=True)
    met_targets = serializers.BooleanField(read_only=True)

    class Meta:
        model = RestoreTest
        fields = [
            "id",
            "job",
            "restore_point",
            "target",
            "steps",
            "verification",
            "result",
            "started_at",
            "verified_at",
            "data_taken_at",
            "rto_seconds",
            "rpo_seconds",
            "rto_target_seconds",
            "rpo_target_seconds",
            "met_targets",
            "evidence",
            "recorded_at",
        ]
        read_only_fields = [
            "id",
            "rto_seconds",
            "rpo_seconds",
            "rto_target_seconds",
            "rpo_target_seconds",
            "recorded_at",
        ]


class RestoreTestViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Restore tests: a backup restored and verified, with the measured RTO and RPO against the policy."""

    queryset = RestoreTest.objects.order_by("-verified_at", "-pk")
    serializer_class = RestoreTestSerializer
    filterset_class = RestoreTestFilterSet

    def perform_create(self, serializer: Any) -> None:
        try:
            serializer.instance = services.record_restore_test(
                **serializer.validated_data, recorded_by=self.request.user
            )
        except DomainError as error:
            raise ValidationError({"detail": str(error)}) from error


@extend_schema_serializer(component_name="BackupsDRDrillApproval")
class DRDrillApprovalSerializer(StrictModelSerializer):
    """A validation of a DR drill: the kind is named; who, in which role and when are the caller's and now."""

    approver: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = DRDrillApproval
        fields = ["id", "kind", "role", "approver", "approved_at", "note"]
        read_only_fields = ["id", "role", "approver", "approved_at"]
        extra_kwargs = {"note": {"max_length": 5000}}


class DRDrillSerializer(StrictModelSerializer):
    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all())
    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="The SRE Lead who owns the drill (default, or null: the caller, who must then hold the role). "
        "Null on a drill whose owner's account was deleted.",
    )
    held_at = AwareDateTimeField()
    participants = serializers.ListField(child=serializers.DictField(child=serializers.CharField()), required=False)
    timeline = serializers.ListField(child=serializers.DictField(child=serializers.CharField()), required=False)
    issues = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    rto_target_seconds = serializers.FloatField(min_value=0, max_value=1e9)
    rpo_target_seconds = serializers.FloatField(min_value=0, max_value=1e9)
    rto_achieved_seconds = serializers.FloatField(min_value=0, max_value=1e9, required=False, allow_null=True)
    rpo_achieved_seconds = serializers.FloatField(min_value=0, max_value=1e9, required=False, allow_null=True)
    met_targets = serializers.BooleanField(read_only=True)
    approvals = DRDrillApprovalSerializer(many=True, read_only=True)
    validated = serializers.BooleanField(
        read_only=True, help_text="Both validations recorded: only then does the drill count for the gate."
    )

    class Meta:
        model = DRDrill
        fields = [
            "id",
            "service",
            "scenario",
            "held_at",
            "owner",
            "participants",
            "timeline",
            "rto_target_seconds",
            "rpo_target_seconds",
            "rto_achieved_seconds",
            "rpo_achieved_seconds",
            "issues",
            "met_targets",
            "approvals",
            "validated",
            "recorded_at",
        ]
        read_only_fields = ["id", "recorded_at"]


class ApprovePermission(BasePermission):
    """Recording a drill validation: the backups.add_drdrillapproval permission (Security Lead, Compliance
    Officer); the service then checks the role for the kind and that the caller is not the drill's owner."""

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("backups.add_drdrillapproval"))


class DRDrillViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """DR drills; each issue found becomes an item of the improvement backlog (incidents' action items).
    The SRE Lead owns a drill; the Security Lead validates its data protection and the Compliance Officer
    its compliance (``approvals/``); a drill counts for the gate only once both are recorded."""

    queryset = (
        DRDrill.objects.select_related("service", "owner")
        .prefetch_related("approvals__approver")
        .order_by("-held_at", "-pk")
    )
    serializer_class = DRDrillSerializer
    filterset_class = DRDrillFilterSet

    def get_permissions(self) -> Any:
        return [ApprovePermission()] if self.action == "approvals" else super().get_permissions()

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        if data.get("owner") is None:
            if not services.holds_role(self.request.user, SRE_LEAD):
                raise ValidationError({"owner": [f"Name the drill's owner: a user holding the role {SRE_LEAD}."]})
            data["owner"] = self.request.user
        with transaction.atomic():
            serializer.instance = services.record_drill(drill=DRDrill(**data))

    @extend_schema(
        summary="Validate a drill (data protection: Security Lead; compliance: Compliance Officer)",
        request=DRDrillApprovalSerializer,
        responses={201: DRDrillApprovalSerializer},
    )
    @action(detail=True, methods=["post"])
    def approvals(self, request: Request, pk: str | None = None) -> Response:
        body = DRDrillApprovalSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        approval = services.drill_approve(
            drill=self.get_object(),
            kind=body.validated_data["kind"],
            actor=request.user,
            note=body.validated_data.get("note", ""),
        )
        return Response(DRDrillApprovalSerializer(approval).data, status=status.HTTP_201_CREATED)


class DRPlanSerializer(StrictModelSerializer):
    service = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Service.objects.all(),
        validators=[UniqueValidator(queryset=DRPlan.objects.all(), message="This service has a DR plan already.")],
    )
    reviewed_at = AwareDateTimeField(required=False, allow_null=True)

    class Meta:
        model = DRPlan
        fields = ["id", "service", "body", "owner", "reviewed_at", "updated_at"]
        read_only_fields = ["id", "updated_at"]


class DRPlanViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """DR plans, one per service (Markdown, sanitised when shown), reviewed on the policy's cadence."""

    queryset = DRPlan.objects.select_related("service").order_by("service__name")
    serializer_class = DRPlanSerializer
