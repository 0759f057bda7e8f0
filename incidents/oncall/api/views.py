"""On-call API: schedules with their layers and overrides, computed shifts, who is on call now, and
escalation policies.

Routes (under /api/v1/):

* ``schedules/`` and ``schedules/<slug>/``: the schedules, each with its layers;
* ``schedules/<slug>/layers/`` and ``.../layers/<id>/``: the layers, whose
  ``members`` is the rotation order as a list of usernames (the first takes
  shift 0); a PATCH with ``members`` replaces the whole order;
* ``schedules/<slug>/overrides/`` and ``.../overrides/<id>/``: the overrides;
* ``schedules/<slug>/shifts/?start=&end=``: the computed shifts and gaps;
* ``oncall/now/``: every schedule with who holds it now, until when, who is next;
* ``escalation-policies/`` and ``escalation-policies/<slug>/``: the policies
  with their ordered levels and covered services, written as one document.

Thin: every write goes through incidents.selectors.services (validation errors
answer 400 with field paths), every computation through incidents.selectors.selectors.
Computed instants are shown in the schedule's time zone, with their offset.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from opsgov.api.fields import AwareDateTimeField
from opsgov.api.pagination import CursorPagination
from opsgov.api.strict import StrictModelSerializer
from opsgov.models import Service, Team

from ...models import (
    EscalationLevel,
    EscalationPolicy,
    RotationKind,
    Schedule,
    ScheduleLayer,
    ScheduleOverride,
    ServiceEscalation,
)
from .. import selectors, services

#: The range of the shifts endpoint when none is given.
DEFAULT_RANGE = timedelta(days=14)


# --- Serializers ------------------------------------------------------------------------------


class LocalDateTimeField(serializers.DateTimeField):
    """A computed instant, shown in the time zone it carries (the schedule's) with its offset."""

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string"},
        "description": "Usernames in rotation order; the first takes shift 0. A name may appear more than once.",
    }
)
class MembersField(serializers.Field):
    """The rotation order as usernames; unknown or inactive names are reported by index ("members.1")."""

    default_error_messages = {
        "not_a_list": "A list of usernames in rotation order.",
        "empty": "A layer needs at least one member.",
        "unknown": "No active user {username!r}.",
    }

    def to_representation(self, value: Any) -> list[str]:
        return [member.user.get_username() for member in sorted(value.all(), key=lambda member: member.position)]

    def to_internal_value(self, data: Any) -> list[User]:
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            self.fail("not_a_list")
        if not data:
            self.fail("empty")
        users = {user.username: user for user in User.objects.filter(username__in=set(data), is_active=True)}
        unknown = {
            str(index): [self.error_messages["unknown"].format(username=name)]
            for index, name in enumerate(data)
            if name not in users
        }
        if unknown:
            raise serializers.ValidationError(unknown)
        return [users[name] for name in data]


class ScheduleLayerSerializer(StrictModelSerializer):
    """A rotation layer. Daily and weekly shifts hand off at `handoff_time` local time (weekly on
    `handoff_weekday`, 0 = Monday); "hours" shifts are `rotation_hours` real hours from
    `rotation_start`. A restriction (`restrict_weekdays`, `restrict_start`-`restrict_end`, local;
    an end before the start runs overnight) limits when the layer covers."""

    members = MembersField()
    rotation_start = AwareDateTimeField()
    ends_at = AwareDateTimeField(required=False, allow_null=True)
    restrict_weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        required=False,
        help_text="Weekdays (0 = Monday) on which coverage windows start; empty means every day.",
    )

    class Meta:
        model = ScheduleLayer
        # The writable fields are the service's (services.LAYER_FIELDS), so the two cannot drift apart.
        fields = ["id", *services.LAYER_FIELDS, "members", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {
            "priority": {"max_value": 32767},
            "rotation_hours": {"min_value": 1, "max_value": 32767},
            "handoff_weekday": {"max_value": 6},
        }


class ScheduleOverrideSerializer(StrictModelSerializer):
    """Someone takes the schedule from `starts_at` to `ends_at`, over every layer (the latest created
    override wins where overrides overlap)."""

    user: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        help_text="Username of who takes the schedule.",
    )
    starts_at = AwareDateTimeField()
    ends_at = AwareDateTimeField()

    class Meta:
        model = ScheduleOverride
        fields = ["id", *services.OVERRIDE_FIELDS, "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class ScheduleSerializer(StrictModelSerializer):
    """An on-call schedule in one IANA time zone, with its layers (highest priority first)."""

    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), required=False, allow_null=True, help_text="Team slug."
    )
    layers = ScheduleLayerSerializer(many=True, read_only=True)

    class Meta:
        model = Schedule
        fields = [*services.SCHEDULE_FIELDS, "layers", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class ShiftSerializer(serializers.Serializer):
    user = serializers.CharField(help_text="Username of who is on call.")
    start = LocalDateTimeField()
    end = LocalDateTimeField()
    # A field called "source" shadows Field.source in the stubs; at run time a declared field wins.
    source = serializers.CharField(help_text='The layer\'s name, or "override".')  # type: ignore[assignment]
    layer = serializers.IntegerField(allow_null=True, help_text="The layer's id; null for an override.")
    override = serializers.IntegerField(allow_null=True, help_text="The override's id; null for a layer.")


class GapSerializer(serializers.Serializer):
    start = LocalDateTimeField()
    end = LocalDateTimeField()


class ScheduleShiftsSerializer(serializers.Serializer):
    """The computed shifts of [start, end) and the gaps between them (nobody on call)."""

    schedule = serializers.CharField(help_text="The schedule's slug.")
    time_zone = serializers.CharField()
    start = LocalDateTimeField()
    end = LocalDateTimeField()
    shifts = ShiftSerializer(many=True)
    gaps = GapSerializer(many=True)


class OnCallNowSerializer(serializers.Serializer):
    schedule = serializers.CharField(help_text="The schedule's slug.")
    name = serializers.CharField()
    time_zone = serializers.CharField()
    on_call = serializers.CharField(allow_null=True, help_text="Username; null when nobody is on call.")
    source = serializers.CharField(  # type: ignore[assignment]  # see ShiftSerializer.source
        allow_null=True, help_text='The layer\'s name, or "override"; null in a gap.'
    )
    until = LocalDateTimeField(
        allow_null=True,
        help_text="When the current person (or the gap) stops; null when that is more than 93 days away.",
    )
    next = serializers.CharField(allow_null=True, help_text="Username of the next person on call, if any.")
    next_start = LocalDateTimeField(allow_null=True, help_text="When the next person takes over.")


# A "+" in a query string arrives as a space unless the client encoded it (%2B).
_SPACE_OFFSET = re.compile(r" (\d{2}(?::?\d{2})?)$")


class ShiftRangeSerializer(serializers.Serializer):
    """The query of the shifts endpoint: [start, end), ISO 8601 with an offset."""

    start = AwareDateTimeField(required=False, help_text="Default: now.")
    end = AwareDateTimeField(required=False, help_text="Default: start + 14 days; at most start + 93 days.")

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        fixed = {key: _SPACE_OFFSET.sub(r"+\1", data[key]) for key in ("start", "end") if data.get(key)}
        return super().to_internal_value(fixed)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start = attrs.get("start") or timezone.now()
        end = attrs.get("end") or start + DEFAULT_RANGE
        if end <= start:
            raise serializers.ValidationError({"end": "Must be after start."})
        if end - start > selectors.MAX_RANGE:
            raise serializers.ValidationError({"end": f"At most {selectors.MAX_RANGE.days} days after start."})
        return {"start": start, "end": end}


# --- Views ------------------------------------------------------------------------------------

SLUG = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="The schedule's slug.")
SCHEDULE_SLUG = OpenApiParameter(
    "schedule_slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="The schedule's slug."
)
ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)


@extend_schema_view(
    list=extend_schema(summary="List on-call schedules with their layers"),
    retrieve=extend_schema(summary="A schedule with its layers", parameters=[SLUG]),
    create=extend_schema(summary="Create a schedule (add layers and overrides through their endpoints)"),
    update=extend_schema(summary="Change a schedule", parameters=[SLUG]),
    partial_update=extend_schema(summary="Change some fields of a schedule", parameters=[SLUG]),
    destroy=extend_schema(
        summary="Delete a schedule with its layers and overrides (refused while an escalation policy pages it)",
        parameters=[SLUG],
    ),
)
class ScheduleViewSet(viewsets.ModelViewSet):
    """On-call schedules, by slug."""

    queryset = selectors.schedule_queryset(overrides=False)
    serializer_class = ScheduleSerializer
    lookup_field = "slug"
    filter_backends: list[type] = []

    def perform_create(self, serializer: Any) -> None:
        schedule = services.schedule_create(**serializer.validated_data)
        serializer.instance = selectors.schedule_queryset(overrides=False).get(pk=schedule.pk)

    def perform_update(self, serializer: Any) -> None:
        schedule = services.schedule_update(schedule=serializer.instance, data=dict(serializer.validated_data))
        serializer.instance = selectors.schedule_queryset(overrides=False).get(pk=schedule.pk)

    def perform_destroy(self, instance: Schedule) -> None:
        services.schedule_delete(schedule=instance)

    @extend_schema(
        summary="The computed shifts and gaps of [start, end) (default: the next 14 days; at most 93)",
        parameters=[SLUG, ShiftRangeSerializer],
        responses={200: ScheduleShiftsSerializer},
    )
    @action(detail=True, methods=["get"])
    def shifts(self, request: Request, slug: str) -> Response:
        query = ShiftRangeSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start"], query.validated_data["end"]
        schedule = get_object_or_404(
            selectors.schedule_queryset(overrides_after=start, overrides_before=end), slug=slug
        )
        zone = selectors.zone_of(schedule)
        found = selectors.shifts(schedule, start, end)
        data = {
            "schedule": schedule.slug,
            "time_zone": schedule.time_zone,
            "start": start.astimezone(zone),
            "end": end.astimezone(zone),
            "shifts": [
                {
                    "user": shift.user.get_username(),
                    "start": shift.start.astimezone(zone),
                    "end": shift.end.astimezone(zone),
                    "source": shift.source,
                    "layer": shift.layer.pk if shift.layer else None,
                    "override": shift.override.pk if shift.override else None,
                }
                for shift in found
            ],
            "gaps": [
                {"start": low.astimezone(zone), "end": high.astimezone(zone)}
                for low, high in selectors.gaps_between(found, start, end)
            ],
        }
        return Response(ScheduleShiftsSerializer(data).data)


class _ScheduleChildViewSet(viewsets.ModelViewSet):
    """Records of one schedule (`schedule_slug` in the URL); 404 when the schedule does not exist."""

    lookup_value_regex = r"[0-9]+"
    filter_backends: list[type] = []

    def _schedule(self) -> Schedule:
        if not hasattr(self, "_schedule_cache"):
            self._schedule_cache = get_object_or_404(Schedule, slug=self.kwargs["schedule_slug"])
        return self._schedule_cache

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self._schedule()
        return super().list(request, *args, **kwargs)


_LAYER_DOCS = {
    "list": "List the layers of a schedule (highest priority first)",
    "retrieve": "A layer",
    "update": "Replace a layer (members replace the rotation order)",
    "partial_update": "Change some fields of a layer (members, when given, replace the rotation order)",
    "destroy": "Delete a layer",
}


@extend_schema_view(
    **{
        name: extend_schema(summary=summary, parameters=[SCHEDULE_SLUG] + ([] if name == "list" else [ID]))
        for name, summary in _LAYER_DOCS.items()
    },
    create=extend_schema(
        summary="Add a layer to a schedule", parameters=[SCHEDULE_SLUG], responses={201: ScheduleLayerSerializer}
    ),
)
class ScheduleLayerViewSet(_ScheduleChildViewSet):
    """The rotation layers of a schedule."""

    serializer_class = ScheduleLayerSerializer

    def get_queryset(self) -> QuerySet[ScheduleLayer]:
        # No query for the schedule here: the permission check calls this before authentication is settled.
        return (
            ScheduleLayer.objects.filter(schedule__slug=self.kwargs.get("schedule_slug"))
            .prefetch_related("members__user")
            .order_by("-priority", "id")
        )

    def _fresh(self, layer: ScheduleLayer) -> ScheduleLayer:
        return self.get_queryset().get(pk=layer.pk)

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        data.setdefault("rotation_kind", RotationKind.WEEKLY)
        serializer.instance = self._fresh(services.layer_create(schedule=self._schedule(), **data))

    def perform_update(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        members = data.pop("members", None)
        layer = services.layer_update(layer=serializer.instance, data=data, members=members)
        serializer.instance = self._fresh(layer)

    def perform_destroy(self, instance: ScheduleLayer) -> None:
        services.layer_delete(layer=instance)


class OverrideCursorPagination(CursorPagination):
    """Latest first; overrides accumulate with history, so no COUNT(*)."""

    ordering = ("-starts_at", "-id")


_OVERRIDE_DOCS = {
    "list": "List the overrides of a schedule (latest start first, cursor-paginated)",
    "retrieve": "An override",
    "update": "Replace an override",
    "partial_update": "Change some fields of an override",
    "destroy": "Delete an override",
}


@extend_schema_view(
    **{
        name: extend_schema(summary=summary, parameters=[SCHEDULE_SLUG] + ([] if name == "list" else [ID]))
        for name, summary in _OVERRIDE_DOCS.items()
    },
    create=extend_schema(
        summary="Add an override (someone takes the schedule for a while)",
        parameters=[SCHEDULE_SLUG],
        responses={201: ScheduleOverrideSerializer},
    ),
)
class ScheduleOverrideViewSet(_ScheduleChildViewSet):
    """The overrides of a schedule."""

    serializer_class = ScheduleOverrideSerializer
    pagination_class = OverrideCursorPagination

    def get_queryset(self) -> QuerySet[ScheduleOverride]:
        return ScheduleOverride.objects.filter(schedule__slug=self.kwargs.get("schedule_slug")).select_related("user")

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.override_create(schedule=self._schedule(), **serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.override_update(
            override=serializer.instance, data=dict(serializer.validated_data)
        )

    def perform_destroy(self, instance: ScheduleOverride) -> None:
        services.override_delete(override=instance)


@extend_schema_view(
    get=extend_schema(
        summary="Every schedule with who is on call now, until when, and who is next",
        description="A fixed number of queries per page of schedules. Instants are in each schedule's time zone.",
    )
)
class OnCallNowView(generics.ListAPIView):
    """Who holds each schedule now."""

    serializer_class = OnCallNowSerializer
    filter_backends: list[type] = []

    def get_queryset(self) -> QuerySet[Schedule]:
        return selectors.schedule_queryset(overrides_after=timezone.now())

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        now = timezone.now()
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None  # every list is paginated
        rows = [_now_row(selectors.on_call_status(schedule, now)) for schedule in page]
        return self.get_paginated_response(OnCallNowSerializer(rows, many=True).data)


def _now_row(status: selectors.OnCallStatus) -> dict[str, Any]:
    schedule = status.schedule
    zone = selectors.zone_of(schedule)
    return {
        "schedule": schedule.slug,
        "name": schedule.name,
        "time_zone": schedule.time_zone,
        "on_call": status.user.get_username() if status.user else None,
        "source": status.source,
        "until": status.until.astimezone(zone) if status.until else None,
        "next": status.next_user.get_username() if status.next_user else None,
        "next_start": status.next_start.astimezone(zone) if status.next_start else None,
    }


# --- Escalation policies ---------------------------------------------------------------------


class EscalationLevelSerializer(StrictModelSerializer):
    schedule = serializers.SlugRelatedField(
        slug_field="slug", queryset=Schedule.objects.all(), allow_null=True, required=False
    )
    users = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.filter(is_active=True), many=True, required=False
    )

    class Meta:
        model = EscalationLevel
        fields = ["position", "delay_minutes", "schedule", "users"]
        read_only_fields = ["position"]


class EscalationPolicySerializer(StrictModelSerializer):
    levels = EscalationLevelSerializer(many=True, required=False, help_text="In order; replaces all levels.")
    services = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Service.objects.all(),
        many=True,
        required=False,
        help_text="Services whose policy this is (a service moves here from its previous policy).",
    )

    class Meta:
        model = EscalationPolicy
        fields = ["id", "slug", "name", "description", "levels", "services", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def to_representation(self, instance: EscalationPolicy) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["services"] = [link.service.slug for link in instance.service_links.all()]
        return data


def _levels(data: list[dict[str, Any]] | None) -> list[services.LevelSpec] | None:
    if data is None:
        return None
    return [
        services.LevelSpec(
            delay_minutes=item.get("delay_minutes", 0), schedule=item.get("schedule"), users=item.get("users", [])
        )
        for item in data
    ]


class EscalationPolicyViewSet(viewsets.ModelViewSet):
    """Escalation policies. Level 1 is notified at once (after its delay); each next level after its
    delay while the incident stays unacknowledged."""

    serializer_class = EscalationPolicySerializer
    lookup_field = "slug"
    ordering = ["name"]
    ordering_fields = ["name", "slug"]

    def get_queryset(self) -> QuerySet[EscalationPolicy]:
        levels = EscalationLevel.objects.select_related("schedule").prefetch_related("users").order_by("position")
        links = ServiceEscalation.objects.select_related("service").order_by("service__slug")
        return EscalationPolicy.objects.prefetch_related(
            Prefetch("levels", queryset=levels), Prefetch("service_links", queryset=links)
        ).order_by("name")

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.policy_create(
            slug=data["slug"],
            name=data["name"],
            description=data.get("description", ""),
            levels=_levels(data.get("levels")) or [],
            services=data.get("services", []),
        )

    def perform_update(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        levels = _levels(data.pop("levels", None))
        covered = data.pop("services", None)
        serializer.instance = services.policy_update(
            policy=serializer.instance, data=data, levels=levels, services=covered
        )

    def perform_destroy(self, instance: EscalationPolicy) -> None:
        services.policy_delete(policy=instance)
