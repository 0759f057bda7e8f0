"""Runbook and alert-rule API: serializers and viewsets.

Thin: querysets from monitoring.catalog.selectors and FilterSets from
monitoring.catalog.filters, writes through monitoring.catalog.services; their DomainError / ValidationError
become 400s with field paths (opsgov.api.exceptions). Permissions are the
model permissions of the user's roles (SRE, DevOps and Tech Leads write).

* ``/api/v1/runbooks/`` — list (filters service, overdue, owner, q), read (by
  slug, with the sanitized HTML), create, update; POST ``<slug>/review/``
  records a review by the caller.
* ``/api/v1/alert-rules/`` — list (filters service, severity, has_runbook,
  has_service, file, q), read, PATCH ``{"runbook": "<slug>" | null}`` to link a
  runbook by hand; POST ``import/`` takes Prometheus rule files (multipart
  ``files``, or one file as the raw YAML body with ``?name=``), all or nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response

from opsgov.api.parsers import MultiPartParser
from opsgov.api.permissions import RoleModelPermissions
from opsgov.api.strict import StrictSerializer, refuse_unknown_keys
from opsgov.models import Service

from ..models import AlertRule, Runbook
from . import rendering, rule_files, services
from .filters import AlertRuleFilterSet, RunbookFilterSet
from .selectors import alert_rule_list, runbook_detail, runbook_list

User = get_user_model()


class ChangePermission(RoleModelPermissions):
    """For POST actions that change an existing record (review): the change permission."""

    perms_map = {**RoleModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = f"A rule file may be at most {rule_files.MAX_FILE_BYTES // 1024} KiB."
    default_code = "payload_too_large"


class YAMLParser(BaseParser):
    """The raw YAML of one rule file, as bytes (parsed and checked by monitoring.catalog.rule_files)."""

    media_type = "application/yaml"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> bytes:  # type: ignore[override]
        content = stream.read(rule_files.MAX_FILE_BYTES + 1) if stream is not None else b""
        if len(content) > rule_files.MAX_FILE_BYTES:
            raise PayloadTooLarge()
        return bytes(content)


class XYAMLParser(YAMLParser):
    media_type = "application/x-yaml"


class TextYAMLParser(YAMLParser):
    media_type = "text/yaml"


# --- Serializers -----------------------------------------------------------------------------


class RunbookSerializer(serializers.ModelSerializer):
    """A runbook; `review_due_on` follows the policy, `review_overdue` compares it with today (policy time zone)."""

    services: serializers.SlugRelatedField[Service] = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )
    owner: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    last_reviewed_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    review_due_on = serializers.DateField(read_only=True)
    review_overdue = serializers.SerializerMethodField()
    body_html = serializers.SerializerMethodField(help_text="The body rendered to HTML and sanitized.")
    alert_rules = serializers.SerializerMethodField(help_text="Ids of the alert rules linked to it.")
    url = serializers.CharField(source="get_absolute_url", read_only=True, help_text="Its page in opsgov.")

    class Meta:
        model = Runbook
        fields = [
            "id",
            "slug",
            "title",
            "services",
            "owner",
            "body",
            "body_html",
            "last_reviewed_at",
            "last_reviewed_by",
            "review_due_on",
            "review_overdue",
            "alert_rules",
            "url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_review_overdue(self, runbook: Runbook) -> bool:
        annotated = getattr(runbook, "review_overdue", None)
        return bool(runbook.is_review_overdue() if annotated is None else annotated)

    def get_body_html(self, runbook: Runbook) -> str:
        return str(rendering.render_markdown(runbook.body))

    def get_alert_rules(self, runbook: Runbook) -> list[int]:
        return [rule.pk for rule in runbook.alert_rules.all()]


class RunbookWriteSerializer(StrictSerializer):
    """Fields of a runbook to create or change (send any of them to PATCH)."""

    title = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=80, required=False, allow_blank=True, help_text="Empty: from the title.")
    services = serializers.SlugRelatedField(
        slug_field="slug", many=True, queryset=Service.objects.all(), required=False, help_text="Service slugs."
    )
    owner = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True), help_text="Username of the owner."
    )
    body = serializers.CharField(help_text="Markdown.")
    last_reviewed_at = serializers.DateField(
        required=False, help_text="Create only: a past review day (default: today, by the caller)."
    )


class ReviewSerializer(StrictSerializer):
    reviewed_on = serializers.DateField(required=False, help_text="Default: today in the policy's time zone.")


class AlertRuleSerializer(serializers.ModelSerializer):
    """An alerting rule as its file defines it, plus severity, service and runbook as opsgov reads them."""

    file = serializers.CharField(source="group.rule_file.name", read_only=True)
    group = serializers.CharField(source="group.name", read_only=True)
    for_ = serializers.SerializerMethodField(
        method_name="get_for", help_text='`for` in Prometheus notation, e.g. "5m"; "" when unset.'
    )
    keep_firing_for = serializers.SerializerMethodField(help_text='e.g. "10m"; "" when unset.')
    service: serializers.SlugRelatedField[Service] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    runbook: serializers.SlugRelatedField[Runbook] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    has_runbook = serializers.BooleanField(read_only=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True, help_text="Its page in opsgov.")

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "file",
            "group",
            "expr",
            "for_",
            "keep_firing_for",
            "labels",
            "annotations",
            "severity",
            "severity_label",
            "service",
            "service_label",
            "runbook",
            "runbook_url",
            "runbook_linked_by_hand",
            "has_runbook",
            "url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_fields(self) -> dict[str, serializers.Field]:
        """`for_` (a Python keyword otherwise) answers as `for`, and the schema says so: it reads the fields."""
        return {("for" if name == "for_" else name): field for name, field in super().get_fields().items()}

    def get_for(self, rule: AlertRule) -> str:
        return rule_files.format_duration(rule.for_duration)

    def get_keep_firing_for(self, rule: AlertRule) -> str:
        return rule_files.format_duration(rule.keep_firing_for)


class AlertRuleLinkSerializer(StrictSerializer):
    runbook = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Runbook.objects.all(),
        allow_null=True,
        help_text="Slug of the opsgov runbook to link; null unlinks.",
    )


_IMPORT_RESULT = inline_serializer(
    "AlertRuleImportResult",
    {
        "added": serializers.IntegerField(),
        "updated": serializers.IntegerField(),
        "removed": serializers.IntegerField(),
        "unknown_services": serializers.ListField(
            child=serializers.CharField(),
            help_text="`service` labels of the imported rules that no service has as its slug (the catalog page "
            "flags those rules as 'Unknown'); per file, `files[].unknown_services` names the rules and "
            "`files[].without_service_label` the rules without the label.",
        ),
        "files": serializers.ListField(child=serializers.DictField()),
        "removed_files": serializers.ListField(child=serializers.CharField()),
    },
)
_IMPORT_ERRORS = inline_serializer(
    "AlertRuleImportErrors",
    {
        "detail": serializers.CharField(),
        "errors": serializers.ListField(
            child=inline_serializer(
                "AlertRuleImportError",
                {
                    "field": serializers.CharField(
                        help_text='"<file>:<path>", e.g. "a.yml:groups[0].rules[1].for"; or the request\'s field '
                        "(`files`, `name`, `replace`) when the request itself is wrong."
                    ),
                    "message": serializers.CharField(),
                    # Absent when the request itself is wrong (no `files`, no `?name=`): no file to point into.
                    "file": serializers.CharField(required=False, help_text="The file the error is in."),
                    "line": serializers.IntegerField(allow_null=True, required=False),
                    "group": serializers.CharField(allow_null=True, required=False),
                    "rule": serializers.CharField(allow_null=True, required=False),
                },
            )
        ),
    },
)


# --- Viewsets -------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List runbooks (by title)"),
    retrieve=extend_schema(summary="A runbook with its rendered body"),
)
class RunbookViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Runbooks: Markdown documents linked to services and alert rules, reviewed on the policy's cadence."""

    queryset = Runbook.objects.all()  # the model for permissions; rows from get_queryset()
    serializer_class = RunbookSerializer
    filterset_class = RunbookFilterSet
    lookup_field = "slug"
    ordering_fields = ["title", "last_reviewed_at", "updated_at"]
    ordering = ["title", "id"]

    def get_queryset(self) -> QuerySet[Runbook]:
        return runbook_detail() if self.action != "list" else runbook_list().prefetch_related("alert_rules")

    def _answer(self, runbook: Runbook, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = runbook_detail().get(pk=runbook.pk)
        return Response(RunbookSerializer(fresh, context=self.get_serializer_context()).data, status=status_code)

    @extend_schema(summary="Write a runbook", request=RunbookWriteSerializer, responses={201: RunbookSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = RunbookWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        runbook = services.runbook_create(**serializer.validated_data, actor=request.user)
        return self._answer(runbook, status.HTTP_201_CREATED)

    @extend_schema(summary="Change a runbook", request=RunbookWriteSerializer, responses={200: RunbookSerializer})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        runbook = self.get_object()
        serializer = RunbookWriteSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "last_reviewed_at" in data:
            raise serializers.ValidationError({"last_reviewed_at": ["Record a review with POST .../review/ instead."]})
        return self._answer(services.runbook_update(runbook=runbook, data=data))

    @extend_schema(
        summary="Change some fields of a runbook", request=RunbookWriteSerializer, responses={200: RunbookSerializer}
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(
        summary="Mark as reviewed by the caller (today or a past day)",
        request=ReviewSerializer,
        responses={200: RunbookSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def review(self, request: Request, slug: str) -> Response:
        serializer = ReviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        runbook = services.runbook_mark_reviewed(
            runbook=self.get_object(), actor=request.user, on=serializer.validated_data.get("reviewed_on")
        )
        return self._answer(runbook)


@extend_schema_view(
    list=extend_schema(summary="List alerting rules (by file, group and position)"),
    retrieve=extend_schema(summary="An alerting rule"),
)
class AlertRuleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The alert-rule catalog, imported from Prometheus rule files. Rules without a runbook are flagged."""

    queryset = AlertRule.objects.all()  # the model for permissions; rows from get_queryset()
    serializer_class = AlertRuleSerializer
    filterset_class = AlertRuleFilterSet
    ordering_fields = ["name", "severity", "updated_at"]
    ordering = ["group__rule_file__name", "group__position", "position", "id"]

    def get_queryset(self) -> QuerySet[AlertRule]:
        return alert_rule_list()

    @extend_schema(
        summary="Link an opsgov runbook to the rule by hand (null unlinks)",
        request=AlertRuleLinkSerializer,
        responses={200: AlertRuleSerializer},
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        serializer = AlertRuleLinkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rule = services.alert_rule_link_runbook(rule=self.get_object(), runbook=serializer.validated_data["runbook"])
        fresh = alert_rule_list().get(pk=rule.pk)
        return Response(AlertRuleSerializer(fresh, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Import Prometheus rule files (all or nothing)",
        description=(
            "Send the files as multipart `files` (one or more), or one file as the raw body "
            "(`Content-Type: application/yaml`) with its file name in `?name=`. A file's rules are matched "
            "on (file name, group, alert name): added, updated in place, or removed when no longer in the file. "
            "`?replace=true` also removes the files not sent. Any invalid file rejects the call with 400, "
            "each error naming the file, line, group and rule (every `expr` is parsed as PromQL); nothing is "
            "written then. The answer lists the `service` labels no service has (`unknown_services`)."
        ),
        parameters=[
            OpenApiParameter("name", OpenApiTypes.STR, description="File name of a raw YAML body, e.g. checkout.yml"),
            OpenApiParameter("replace", OpenApiTypes.BOOL, description="Remove the catalog's other files."),
        ],
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                "required": ["files"],
            },
            "application/yaml": {"type": "string", "description": "One Prometheus rule file."},
        },
        responses={200: _IMPORT_RESULT, 400: _IMPORT_ERRORS, 413: OpenApiTypes.OBJECT},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, YAMLParser, XYAMLParser, TextYAMLParser],
    )
    def import_files(self, request: Request) -> Response:
        try:
            replace = serializers.BooleanField().to_internal_value(request.query_params.get("replace", "false"))
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"replace": exc.detail}) from exc
        if isinstance(request.data, bytes):
            name = request.query_params.get("name", "").strip()
            if not name:
                raise serializers.ValidationError({"name": ["Give the file name in ?name= (e.g. checkout.yml)."]})
            files: list[tuple[str, str | bytes]] = [(name, request.data)]
        else:
            refuse_unknown_keys(request.data, accepted={"files"})
            uploads = request.FILES.getlist("files")
            if not uploads:
                raise serializers.ValidationError({"files": ["Send one or more rule files as `files`."]})
            if any(upload.size is not None and upload.size > rule_files.MAX_FILE_BYTES for upload in uploads):
                raise PayloadTooLarge()
            files = [(upload.name or "", upload.read()) for upload in uploads]
        try:
            result = services.import_rule_files(files=files, replace=replace, actor=request.user)
        except rule_files.RuleImportError as exc:
            return Response(
                {"detail": exc.message, "errors": [error.as_json() for error in exc.errors]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(result.as_json())
