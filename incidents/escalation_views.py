"""HTML pages of escalation policies: which services use them and who each level wakes.

Read-only; policies are managed in the admin site (levels inline) or the API.
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from . import oncall
from .models import EscalationLevel, EscalationPolicy, ServiceEscalation


def _policies() -> QuerySet[EscalationPolicy]:
    levels = EscalationLevel.objects.select_related("schedule").prefetch_related("users").order_by("position")
    links = ServiceEscalation.objects.select_related("service").order_by("service__name")
    return EscalationPolicy.objects.prefetch_related(
        Prefetch("levels", queryset=levels), Prefetch("service_links", queryset=links)
    )


def escalation_policy_list_view(request: HttpRequest) -> HttpResponse:
    return render(request, "incidents/escalation/policy_list.html", {"policies": list(_policies())})


def escalation_policy_detail_view(request: HttpRequest, slug: str) -> HttpResponse:
    policy = get_object_or_404(_policies(), slug=slug)
    now = timezone.now()
    schedules = {
        schedule.pk: schedule
        for schedule in oncall.schedule_queryset(overrides_after=now, overrides_before=now).filter(
            pk__in=[level.schedule_id for level in policy.levels.all() if level.schedule_id]
        )
    }
    rows = []
    waited = 0
    for level in policy.levels.all():
        waited += level.delay_minutes
        holder = oncall.on_call_at(schedules[level.schedule_id], now) if level.schedule_id else None
        rows.append({"level": level, "after_minutes": waited, "on_call": holder, "users": list(level.users.all())})
    return render(request, "incidents/escalation/policy_detail.html", {"policy": policy, "rows": rows, "now": now})
