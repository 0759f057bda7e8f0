"""Writes of escalation policies: the policy, its ordered levels and the services it covers, in one go."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from opsgov.errors import DomainError
from opsgov.models import Service

from .models import EscalationLevel, EscalationPolicy, Schedule, ServiceEscalation


@dataclass(frozen=True)
class LevelSpec:
    """One level as given: notify the schedule's on-call person and/or the named users after `delay_minutes`."""

    delay_minutes: int = 0
    schedule: Schedule | None = None
    users: Sequence[Any] = field(default_factory=tuple)


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
