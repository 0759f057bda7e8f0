"""Who answers for a service now, for opsgov.registry.on_call (asked by other apps' gates).

A service's responders are the people the first level of its escalation policy
notifies at that instant: the schedule's on-call person (if it has one and the
schedule is not in a gap) and the level's named users. A service without an
escalation policy has none. Queries: the links with their first levels and
named users, and the schedules (opsgov.oncall.schedule_queryset: four), for
any number of services.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Prefetch

from .models import EscalationLevel, ServiceEscalation
from .oncall import on_call_at, schedule_queryset


def _name(user: object) -> str:
    full = getattr(user, "get_full_name", lambda: "")()
    return str(full or getattr(user, "username", user))


def responders(*, service_ids: Iterable[int], now: datetime) -> dict[int, list[str]]:
    """Per service id: the display names its escalation path notifies first at `now` (empty list: nobody)."""
    ids = list(service_ids)
    result: dict[int, list[str]] = {service_id: [] for service_id in ids}
    levels = EscalationLevel.objects.order_by("position").prefetch_related("users")
    links = list(
        ServiceEscalation.objects.filter(service_id__in=ids)
        .select_related("policy")
        .prefetch_related(Prefetch("policy__levels", queryset=levels))
    )
    first_levels = {link.service_id: next(iter(link.policy.levels.all()), None) for link in links}
    schedule_ids = {level.schedule_id for level in first_levels.values() if level and level.schedule_id}
    current = schedule_queryset(overrides_after=now, overrides_before=now + timedelta(microseconds=1))
    schedules = {schedule.pk: schedule for schedule in current.filter(pk__in=schedule_ids)}
    for service_id, level in first_levels.items():
        if level is None:
            continue
        names = [_name(user) for user in level.users.all()]
        schedule = schedules.get(level.schedule_id) if level.schedule_id else None
        if schedule is not None:
            person = on_call_at(schedule, now)
            if person is not None:
                names.insert(0, _name(person))
        result[service_id] = list(dict.fromkeys(names))
    return result
