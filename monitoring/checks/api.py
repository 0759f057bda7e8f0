"""API of the synthetic checks: serializers and viewsets (routed by monitoring.api.urls under /api/v1/).

Routes:
* ``checks/http/`` and ``checks/http/<uuid>/``: HTTP checks (CRUD); POST
  ``.../pause/`` and ``.../resume/``; the detail shows recent results and flips.
* ``checks/heartbeats/`` and ``checks/heartbeats/<uuid>/``: heartbeats (CRUD),
  with their ping URL; POST ``.../pause/`` and ``.../resume/``; the detail
  shows recent pings and flips.

Lists filter by ``service`` (slugs), ``status`` and ``q``. Thin: every write
goes through monitoring.checks.services, whose validation errors answer 400 with field
paths. Permissions are the roles' model permissions (opsgov.roles).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.core.validators import URLValidator
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from opsgov.api.permissions import RoleModelPermissions
from opsgov.api.strict import StrictModelSerializer
from opsgov.models import Service

from ..models import (
    SLO,
    CheckFlip,
    CheckStatus,
    Heartbeat,
    HeartbeatPing,
    HttpCheck,
    HttpCheckResult,
    PingKind,
    SLISource,
)
from . import selectors, services
from .filters import HeartbeatFilterSet, HttpCheckFilterSet
from .kinds import HEARTBEAT, HTTP_CHECK, CheckKind

#: Results, pings and flips shown in a detail answer.
API_RECENT = 20


class ChangePermission(RoleModelPermissions):
    """For POST actions that change an existing record (pause, resume): the change permission."""

    perms_map = {**RoleModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


@extend_schema_field({"type": "integer", "minimum": 60, "description": "Seconds."})
class SecondsField(serializers.Field):
    """A duration as whole seconds (e.g. 86400 for a day)."""

    default_error_messages = {
        "invalid": "A whole number of seconds.",
        "max_value": "Ensure this value is less than or equal to {max_value}.",
    }
    #: The most seconds a timedelta holds (about 2.7 million years): beyond it, timedelta() overflows.
    MAX_SECONDS = int(timedelta.max.total_seconds())

    def to_representation(self, value: timedelta) -> int:
        return int(value.total_seconds())

    def to_internal_value(self, data: Any) -> timedelta:
        digits = str(data).strip() if isinstance(data, int | str) and not isinstance(data, bool) else ""
        if not (digits.isascii() and digits.isdigit()):  # "²".isdigit() too, but int() refuses it
            self.fail("invalid")
        text = digits.lstrip("0") or "0"
        if len(text) > len(str(self.MAX_SECONDS)) or int(text) > self.MAX_SECONDS:
            self.fail("max_value", max_value=self.MAX_SECONDS)
        return timedelta(seconds=int(text))


@extend_schema_field(
    {"type": "string", "enum": CheckStatus.values, "description": "new, up, down or paused."},
    component_name="CheckStatus",  # its own component: "status" is also the incidents' field name
)
class CheckStatusField(serializers.CharField):
    """The status of an HTTP check or a heartbeat."""


@extend_schema_field(
    {"type": "string", "enum": PingKind.values, "description": "success, start or fail."},
    component_name="PingKind",
)
class PingKindField(serializers.CharField):
    """What a ping reported."""


def _service_field() -> serializers.SlugRelatedField[Service]:
    return serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all(), help_text="Service slug.")


class CheckFlipSerializer(serializers.ModelSerializer):
    old_status = CheckStatusField(read_only=True)
    new_status = CheckStatusField(read_only=True)

    class Meta:
        model = CheckFlip
        fields = ["at", "old_status", "new_status", "reason", "details"]
        read_only_fields = fields


# The recent status changes of a detail answer (HTTP check or heartbeat). No docstring: the schema
# describes the detail serializers with the docstring of their first documented base.
class _RecentFlipsMixin(serializers.Serializer):
    recent_flips = serializers.SerializerMethodField(help_text=f"The newest {API_RECENT} status changes.")

    @extend_schema_field(CheckFlipSerializer(many=True))
    def get_recent_flips(self, owner: HttpCheck | Heartbeat) -> Any:
        return CheckFlipSerializer(selectors.recent_flips(owner, API_RECENT), many=True).data


UUID_PARAMETER = OpenApiParameter("uuid", OpenApiTypes.UUID, OpenApiParameter.PATH)


def _check_schema(answer: type[serializers.BaseSerializer], **summaries: str) -> Callable[[type], type]:
    """extend_schema_view with a summary per action of a check viewset: the actions on one record take the
    uuid path parameter; pause and resume have no request body and answer with `answer`."""
    annotations: dict[str, Any] = {}
    for name, summary in summaries.items():
        arguments: dict[str, Any] = {"summary": summary}
        if name not in ("list", "create"):
            arguments["parameters"] = [UUID_PARAMETER]
        if name in ("pause", "resume"):
            arguments.update(request=None, responses={200: answer})
        annotations[name] = extend_schema(**arguments)
    return extend_schema_view(**annotations)


class _CheckViewSet(viewsets.ModelViewSet):
    """What the HTTP check and heartbeat viewsets share: lookup by uuid, the detail serializer for retrieve,
    writes through the services of their `kind`, and the pause and resume actions."""

    kind: CheckKind[Any]
    detail_serializer_class: type[serializers.BaseSerializer]
    lookup_field = "uuid"

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return self.detail_serializer_class if self.action == "retrieve" else super().get_serializer_class()

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = self.kind.create(**serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = self.kind.update(serializer.instance, dict(serializer.validated_data), self.request.user)

    def perform_destroy(self, instance: Any) -> None:
        self.kind.delete(instance, self.request.user)

    def _answer(self, instance: Any) -> Response:
        fresh = self.kind.listed().get(pk=instance.pk)
        return Response(self.get_serializer(fresh).data)

    # No docstrings on the actions: the schema describes them with the summaries the subclasses give.
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def pause(self, request: Request, uuid: str) -> Response:
        return self._answer(self.kind.pause(self.get_object(), request.user))

    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def resume(self, request: Request, uuid: str) -> Response:
        return self._answer(self.kind.resume(self.get_object(), request.user))


# --- HTTP checks -------------------------------------------------------------------------------


class HttpCheckResultSerializer(serializers.ModelSerializer):
    class Meta:
        model = HttpCheckResult
        fields = ["scheduled_for", "checked_at", "ok", "status_code", "latency_ms", "error"]
        read_only_fields = fields


class HttpCheckSerializer(StrictModelSerializer):
    """An HTTP check. Status and last-run fields are read-only: runs write them."""

    service = _service_field()
    url = serializers.URLField(
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="The http(s) URL to request. Redirects are not followed: a 3xx is what the server answered.",
    )
    status = CheckStatusField(read_only=True)
    slo: serializers.SlugRelatedField[SLO] = serializers.SlugRelatedField(
        slug_field="uuid",
        queryset=SLO.objects.filter(source=SLISource.CHECK),
        required=False,
        allow_null=True,
        help_text="UUID of an SLO of the same service whose SLI source is checks; each run counts as one event.",
    )

    class Meta:
        model = HttpCheck
        fields = ["uuid", *services.HTTP_CHECK_FIELDS, *services.HTTP_CHECK_STATE_FIELDS, "created_at", "updated_at"]
        read_only_fields = ["uuid", *services.HTTP_CHECK_STATE_FIELDS, "created_at", "updated_at"]


class HttpCheckDetailSerializer(_RecentFlipsMixin, HttpCheckSerializer):
    recent_results = serializers.SerializerMethodField(help_text=f"The newest {API_RECENT} runs, newest first.")

    class Meta(HttpCheckSerializer.Meta):
        fields = [*HttpCheckSerializer.Meta.fields, "recent_results", "recent_flips"]

    @extend_schema_field(HttpCheckResultSerializer(many=True))
    def get_recent_results(self, check: HttpCheck) -> Any:
        return HttpCheckResultSerializer(selectors.recent_results(check, API_RECENT), many=True).data


@_check_schema(
    HttpCheckSerializer,
    list="List HTTP checks (filters: service, status, enabled, q)",
    retrieve="An HTTP check with its recent results and status changes",
    create="Create an HTTP check (its first run is due at once)",
    update="Change an HTTP check",
    partial_update="Change some fields of an HTTP check (enabled=false pauses it)",
    destroy="Delete an HTTP check and its history (its open alert is resolved)",
    pause="Pause: stop running (a down check's alert is resolved)",
    resume="Resume: status new, first run due at once",
)
class HttpCheckViewSet(_CheckViewSet):
    """HTTP checks that opsgov runs on their interval, each going down after `failure_threshold` failures."""

    kind = HTTP_CHECK
    queryset = selectors.http_check_list()
    serializer_class = HttpCheckSerializer
    detail_serializer_class = HttpCheckDetailSerializer
    filterset_class = HttpCheckFilterSet
    ordering_fields = ["name", "status", "next_run_at", "created_at"]


# --- Heartbeats --------------------------------------------------------------------------------


class HeartbeatPingSerializer(serializers.ModelSerializer):
    kind = PingKindField(read_only=True)

    class Meta:
        model = HeartbeatPing
        fields = ["n", "at", "kind", "ignored", "method", "remote_addr", "user_agent", "body", "body_truncated"]
        read_only_fields = fields


class HeartbeatSerializer(StrictModelSerializer):
    """A heartbeat. Jobs ping `ping_url` (or `ping_url`/start, `ping_url`/fail); anyone with the URL can ping."""

    service = _service_field()
    status = CheckStatusField(read_only=True)
    period = SecondsField(
        required=False, help_text="Expected seconds between two success pings (60 to 31536000; default 86400)."
    )
    grace = SecondsField(
        required=False,
        help_text="Seconds a ping may be late before the heartbeat goes down; also how long a started job may run "
        "(60 to 2592000; default 3600).",
    )
    ping_url = serializers.CharField(read_only=True, help_text="The URL jobs ping; its uuid is the secret.")

    class Meta:
        model = Heartbeat
        fields = [
            "uuid",
            *services.HEARTBEAT_FIELDS,
            "ping_url",
            *services.HEARTBEAT_STATE_FIELDS,
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["uuid", *services.HEARTBEAT_STATE_FIELDS, "created_at", "updated_at"]


class HeartbeatDetailSerializer(_RecentFlipsMixin, HeartbeatSerializer):
    recent_pings = serializers.SerializerMethodField(help_text=f"The newest {API_RECENT} pings, newest first.")

    class Meta(HeartbeatSerializer.Meta):
        fields = [*HeartbeatSerializer.Meta.fields, "recent_pings", "recent_flips"]

    @extend_schema_field(HeartbeatPingSerializer(many=True))
    def get_recent_pings(self, heartbeat: Heartbeat) -> Any:
        return HeartbeatPingSerializer(selectors.recent_pings(heartbeat, API_RECENT), many=True).data


@_check_schema(
    HeartbeatSerializer,
    list="List heartbeats (filters: service, status, q)",
    retrieve="A heartbeat with its ping URL, recent pings and status changes",
    create="Create a heartbeat; the answer holds its ping URL",
    update="Change a heartbeat",
    partial_update="Change some fields of a heartbeat",
    destroy="Delete a heartbeat with its pings (its open alert is resolved)",
    pause="Pause: pings are logged and ignored (a down heartbeat's alert is resolved)",
    resume="Resume: status new, watched again from the next ping",
)
class HeartbeatViewSet(_CheckViewSet):
    """Heartbeats: jobs ping them; late, failed or unfinished jobs take them down and open an incident."""

    kind = HEARTBEAT
    queryset = selectors.heartbeat_list()
    serializer_class = HeartbeatSerializer
    detail_serializer_class = HeartbeatDetailSerializer
    filterset_class = HeartbeatFilterSet
    ordering_fields = ["name", "status", "last_ping_at", "alert_after", "created_at"]
