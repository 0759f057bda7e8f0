"""On-call writes: schedules, their layers (with the rotation order) and overrides, and escalation
policies (their ordered levels and the services they cover, in one go).

The only code that changes these records; escalating an incident along its
policy is incidents.oncall.escalation. Keyword-only arguments, one
transaction per call, `full_clean()` before every save. Rules the database
enforces with check constraints are checked here first, so a client gets a
field path ("rotation_hours", "ends_at") rather than a constraint name; a
broken rule raises Django's ValidationError, which the API answers with 400.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from opsgov.errors import DomainError
from opsgov.models import Service, Team

from ..models import (
    EscalationLevel,
    EscalationPolicy,
    LayerMember,
    RotationKind,
    Schedule,
    ScheduleLayer,
    ScheduleOverride,
    ServiceEscalation,
)

SCHEDULE_FIELDS = ("slug", "name", "description", "time_zone", "team")
LAYER_FIELDS = (
    "name",
    "priority",
    "rotation_kind",
    "rotation_hours",
    "rotation_start",
    "handoff_time",
    "handoff_weekday",
    "ends_at",
    "restrict_weekdays",
    "restrict_start",
    "restrict_end",
)
OVERRIDE_FIELDS = ("user", "starts_at", "ends_at", "reason")


def _check_fields(data: dict[str, Any], allowed: Sequence[str]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise DomainError(f"These fields cannot be changed: {', '.join(unknown)}.", field=unknown[0])


def _validate(instance: Schedule | ScheduleLayer | ScheduleOverride, rules: dict[str, str]) -> None:
    """`full_clean()` plus `rules` (field -> message), reported together; then the constraints."""
    errors: dict[str, list[str]] = {}
    try:
        instance.full_clean(validate_constraints=False)
    except ValidationError as exc:
        errors.update({field: list(messages) for field, messages in exc.message_dict.items()})
    for field, message in rules.items():
        errors.setdefault(field, []).append(message)
    if errors:
        raise ValidationError(errors)
    instance.validate_constraints()


# --- Schedules -------------------------------------------------------------------------------


@transaction.atomic
def schedule_create(
    *, slug: str, name: str, description: str = "", time_zone: str = "UTC", team: Team | None = None
) -> Schedule:
    schedule = Schedule(slug=slug, name=name, description=description, time_zone=time_zone, team=team)
    _validate(schedule, {})
    schedule.save()
    return schedule


@transaction.atomic
def schedule_update(*, schedule: Schedule, data: dict[str, Any]) -> Schedule:
    _check_fields(data, SCHEDULE_FIELDS)
    schedule = Schedule.objects.select_for_update().get(pk=schedule.pk)
    for field, value in data.items():
        setattr(schedule, field, value)
    _validate(schedule, {})
    schedule.save()
    return schedule


@transaction.atomic
def schedule_delete(*, schedule: Schedule) -> None:
    """Delete a schedule with its layers and overrides, unless an escalation policy pages it."""
    policies = sorted(
        {level.policy.name for level in EscalationLevel.objects.filter(schedule=schedule).select_related("policy")}
    )
    if policies:
        raise DomainError(
            f"{schedule.name} is paged by the escalation policies {', '.join(policies)}; change them first."
        )
    schedule.delete()


# --- Layers ----------------------------------------------------------------------------------


def _layer_rules(layer: ScheduleLayer) -> dict[str, str]:
    """The layer's check constraints, as field errors."""
    rules: dict[str, str] = {}
    if layer.rotation_kind == RotationKind.HOURS and not layer.rotation_hours:
        rules["rotation_hours"] = "Required (at least 1) for an 'hours' rotation."
    elif layer.rotation_kind != RotationKind.HOURS and layer.rotation_hours is not None:
        rules["rotation_hours"] = "Only for 'hours' rotations; daily and weekly ones hand off at handoff_time."
    if layer.handoff_weekday is not None and layer.handoff_weekday > 6:
        rules["handoff_weekday"] = "A weekday number 0 (Monday) to 6 (Sunday)."
    if layer.ends_at is not None and layer.rotation_start is not None and layer.ends_at <= layer.rotation_start:
        rules["ends_at"] = "Must be after rotation_start."
    if (layer.restrict_start is None) != (layer.restrict_end is None):
        missing = "restrict_end" if layer.restrict_end is None else "restrict_start"
        rules[missing] = "Give both restrict_start and restrict_end, or neither."
    return rules


def _set_members(layer: ScheduleLayer, members: Sequence[User]) -> None:
    """Replace the rotation order: the first user takes shift 0."""
    layer.members.all().delete()
    LayerMember.objects.bulk_create(
        [LayerMember(layer=layer, user=user, position=position) for position, user in enumerate(members)]
    )


@transaction.atomic
def layer_create(
    *,
    schedule: Schedule,
    name: str,
    rotation_start: datetime,
    members: Sequence[User],
    rotation_kind: str = RotationKind.WEEKLY,
    priority: int = 1,
    rotation_hours: int | None = None,
    handoff_time: time = time(9),
    handoff_weekday: int = 0,
    ends_at: datetime | None = None,
    restrict_weekdays: Sequence[int] = (),
    restrict_start: time | None = None,
    restrict_end: time | None = None,
) -> ScheduleLayer:
    """Add a layer whose members take turns in the given order."""
    layer = ScheduleLayer(
        schedule=schedule,
        name=name,
        priority=priority,
        rotation_kind=rotation_kind,
        rotation_hours=rotation_hours,
        rotation_start=rotation_start,
        handoff_time=handoff_time,
        handoff_weekday=handoff_weekday,
        ends_at=ends_at,
        restrict_weekdays=sorted(set(restrict_weekdays)),
        restrict_start=restrict_start,
        restrict_end=restrict_end,
    )
    _validate(layer, _layer_rules(layer))
    layer.save()
    _set_members(layer, members)
    return layer


@transaction.atomic
def layer_update(*, layer: ScheduleLayer, data: dict[str, Any], members: Sequence[User] | None = None) -> ScheduleLayer:
    """Change some fields of a layer; `members`, when given, replaces the rotation order."""
    _check_fields(data, LAYER_FIELDS)
    layer = ScheduleLayer.objects.select_for_update().get(pk=layer.pk)
    for field, value in data.items():
        if field == "restrict_weekdays":
            value = sorted(set(value))
        setattr(layer, field, value)
    _validate(layer, _layer_rules(layer))
    layer.save()
    if members is not None:
        _set_members(layer, members)
    return layer


@transaction.atomic
def layer_delete(*, layer: ScheduleLayer) -> None:
    layer.delete()


# --- Overrides -------------------------------------------------------------------------------


def _override_rules(override: ScheduleOverride) -> dict[str, str]:
    if override.starts_at is not None and override.ends_at is not None and override.ends_at <= override.starts_at:
        return {"ends_at": "Must be after starts_at."}
    return {}


@transaction.atomic
def override_create(
    *, schedule: Schedule, user: User, starts_at: datetime, ends_at: datetime, reason: str = ""
) -> ScheduleOverride:
    """`user` takes the schedule from `starts_at` to `ends_at`, over every layer and earlier overrides."""
    override = ScheduleOverride(schedule=schedule, user=user, starts_at=starts_at, ends_at=ends_at, reason=reason)
    _validate(override, _override_rules(override))
    override.save()
    return override


@transaction.atomic
def override_update(*, override: ScheduleOverride, data: dict[str, Any]) -> ScheduleOverride:
    _check_fields(data, OVERRIDE_FIELDS)
    override = ScheduleOverride.objects.select_for_update().get(pk=override.pk)
    for field, value in data.items():
        setattr(override, field, value)
    _validate(override, _override_rules(override))
    override.save()
    return override


@transaction.atomic
def override_delete(*, override: ScheduleOverride) -> None:
    override.delete()


# --- Escalation policies ---------------------------------------------------------------------


@dataclass(frozen=True)
class LevelSpec:
    """One level as given: notify the schedule's on-call person and/or the named users after `delay_minutes`."""

    delay_minutes: int = 0
    schedule: Schedule | None = None
    users: Sequence[Any] = dataclasses.field(default_factory=tuple)


def _check(levels: Sequence[LevelSpec]) -> None:
    for index, level in enumerate(levels):
        if level.schedule is None and not level.users:
            raise DomainError("A level must notify a schedule or named users.", field=f"levels.{index}")


def _replace_levels(policy: EscalationPolicy, levels: Sequence[LevelSpec]) -> None:
    _check(levels)
    policy.levels.all().delete()
    for position, spec in enumerate(levels, start=1):
        level = EscalationLevel.objects.create(
            policy=policy, position=position, delay_minutes=spec.delay_minutes, schedule=spec.schedule
        )
        level.users.set(spec.users)


def _cover(policy: EscalationPolicy, services: Sequence[Service]) -> None:
    """Make `policy` the policy of exactly `services` (a service has one policy: it moves here)."""
    ServiceEscalation.objects.filter(policy=policy).exclude(service__in=services).delete()
    for service in services:
        ServiceEscalation.objects.update_or_create(service=service, defaults={"policy": policy})


@transaction.atomic
def policy_create(
    *,
    slug: str,
    name: str,
    description: str = "",
    levels: Sequence[LevelSpec] = (),
    services: Sequence[Service] = (),
) -> EscalationPolicy:
    policy = EscalationPolicy(slug=slug, name=name, description=description)
    policy.full_clean()
    policy.save()
    _replace_levels(policy, levels)
    _cover(policy, services)
    return policy


@transaction.atomic
def policy_update(
    *,
    policy: EscalationPolicy,
    data: dict[str, Any],
    levels: Sequence[LevelSpec] | None = None,
    services: Sequence[Service] | None = None,
) -> EscalationPolicy:
    """Change fields; `levels` (when given) replaces every level, `services` the covered services."""
    unknown = set(data) - {"slug", "name", "description"}
    if unknown:
        raise DomainError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    for name, value in data.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    if levels is not None:
        _replace_levels(policy, levels)
    if services is not None:
        _cover(policy, services)
    return policy


@transaction.atomic
def policy_delete(*, policy: EscalationPolicy) -> None:
    covered = list(policy.service_links.values_list("service__slug", flat=True)[:5])
    if covered:
        raise DomainError(
            f"{policy.name} is the policy of {', '.join(covered)}; give them another policy first.", field="services"
        )
    policy.delete()
