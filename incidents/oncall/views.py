"""HTML pages of on-call: who is on call now on every schedule, one schedule's next 14 days, and the
escalation policies (which services use them and who each level wakes).

Read-only; schedules and policies are managed through the API and the admin
site (a policy's levels inline). Times are shown in each schedule's own time
zone, days are its local days (23 or 25 hours long on DST changes), and
stretches with nobody on call are shown as gaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from opsgov.formatting import format_duration
from opsgov.sla import first_instant_showing

from ..models import (
    EscalationLevel,
    EscalationPolicy,
    RotationKind,
    Schedule,
    ScheduleLayer,
    ScheduleOverride,
    ServiceEscalation,
)
from . import selectors

#: How many local days the schedule page shows.
DAYS_SHOWN = 14


@dataclass(frozen=True)
class Segment:
    """A stretch of one local day: a shift or a gap, with where it sits on the day's bar."""

    start: datetime
    end: datetime
    start_label: str
    end_label: str
    shift: selectors.Shift | None
    offset: float  # percent of the day before it
    width: float  # percent of the day it takes

    @property
    def is_gap(self) -> bool:
        return self.shift is None

    @property
    def duration(self) -> str:
        return format_duration(self.end - self.start)


@dataclass(frozen=True)
class Day:
    day: date
    segments: list[Segment]
    hours: float  # real hours in the local day: 23 or 25 on DST changes

    @property
    def has_gap(self) -> bool:
        return any(segment.is_gap for segment in self.segments)


def _midnight(day: date, zone: tzinfo) -> datetime:
    return first_instant_showing(datetime.combine(day, time()), zone)


def _label(at: datetime, zone: tzinfo, day_end: datetime) -> str:
    return "24:00" if at == day_end else at.astimezone(zone).strftime("%H:%M")


def _days(found: list[selectors.Shift], zone: tzinfo, first_day: date) -> list[Day]:
    """The shifts and gaps of each local day from `first_day`, clipped to the day."""
    holes = selectors.gaps_between(
        found, _midnight(first_day, zone), _midnight(first_day + timedelta(DAYS_SHOWN), zone)
    )
    pieces: list[tuple[datetime, datetime, selectors.Shift | None]] = sorted(
        [(shift.start, shift.end, shift) for shift in found] + [(low, high, None) for low, high in holes],
        key=lambda piece: piece[0],
    )
    days = []
    for offset in range(DAYS_SHOWN):
        day = first_day + timedelta(offset)
        day_start, day_end = _midnight(day, zone), _midnight(day + timedelta(1), zone)
        length = (day_end - day_start).total_seconds()
        segments = []
        for start, end, shift in pieces:
            low, high = max(start, day_start), min(end, day_end)
            if low < high:
                segments.append(
                    Segment(
                        start=low,
                        end=high,
                        start_label=_label(low, zone, day_end),
                        end_label=_label(high, zone, day_end),
                        shift=shift,
                        offset=round(100 * (low - day_start).total_seconds() / length, 3),
                        width=round(100 * (high - low).total_seconds() / length, 3),
                    )
                )
        days.append(Day(day=day, segments=segments, hours=length / 3600))
    return days


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class LayerRow:
    """A layer as the schedule page describes it."""

    layer: ScheduleLayer

    @property
    def rotation(self) -> str:
        layer = self.layer
        if layer.rotation_kind == RotationKind.HOURS:
            return f"Every {layer.rotation_hours} h"
        at = layer.handoff_time.strftime("%H:%M")
        if layer.rotation_kind == RotationKind.WEEKLY:
            return f"Weekly, {WEEKDAYS[layer.handoff_weekday]} {at}"
        return f"Daily at {at}"

    @property
    def coverage(self) -> str:
        layer = self.layer
        parts = []
        if layer.restrict_weekdays:
            parts.append(", ".join(WEEKDAYS[day][:3] for day in sorted(layer.restrict_weekdays)))
        if layer.restrict_start is not None and layer.restrict_end is not None:
            overnight = " (overnight)" if layer.restrict_end < layer.restrict_start else ""
            parts.append(f"{layer.restrict_start:%H:%M}\u2013{layer.restrict_end:%H:%M}{overnight}")
        return " ".join(parts) or "Always"


def oncall_now_view(request: HttpRequest) -> HttpResponse:
    """Every schedule: who is on call now, until when, and who is next (a fixed number of queries)."""
    now = timezone.now()
    schedules = list(selectors.schedule_queryset(overrides_after=now))
    statuses = [selectors.on_call_status(schedule, now) for schedule in schedules]
    context = {
        "statuses": statuses,
        "now": now,
        "uncovered": sum(1 for status in statuses if status.user is None),
    }
    return render(request, "incidents/oncall/now.html", context)


def schedule_detail_view(request: HttpRequest, slug: str) -> HttpResponse:
    """One schedule's next 14 local days: a bar and a list per day, overrides marked, gaps in red."""
    probe = get_object_or_404(Schedule.objects.only("time_zone"), slug=slug)
    zone = selectors.zone_of(probe)
    now = timezone.now()
    first_day = now.astimezone(zone).date()
    start, end = _midnight(first_day, zone), _midnight(first_day + timedelta(DAYS_SHOWN), zone)
    schedule = get_object_or_404(selectors.schedule_queryset(overrides_after=start, overrides_before=end), slug=slug)
    found = selectors.shifts(schedule, start, end)
    days = _days(found, zone, first_day)
    overrides: list[ScheduleOverride] = list(schedule.overrides.all())
    context = {
        "schedule": schedule,
        "status": selectors.on_call_status(schedule, now),
        "layers": [LayerRow(layer) for layer in schedule.layers.all()],
        "overrides": overrides,
        "days": days,
        "start": start,
        "end": end,
        "days_shown": DAYS_SHOWN,
        "gap_days": sum(1 for day in days if day.has_gap),
        "gap_total": format_duration(
            sum((high - low for low, high in selectors.gaps_between(found, start, end)), timedelta())
        ),
    }
    return render(request, "incidents/oncall/schedule_detail.html", context)


# --- Escalation policies ---------------------------------------------------------------------


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
        for schedule in selectors.schedule_queryset(overrides_after=now, overrides_before=now).filter(
            pk__in=[level.schedule_id for level in policy.levels.all() if level.schedule_id]
        )
    }
    rows = []
    waited = 0
    for level in policy.levels.all():
        waited += level.delay_minutes
        holder = selectors.on_call_at(schedules[level.schedule_id], now) if level.schedule_id else None
        rows.append({"level": level, "after_minutes": waited, "on_call": holder, "users": list(level.users.all())})
    return render(request, "incidents/escalation/policy_detail.html", {"policy": policy, "rows": rows, "now": now})
