"""Reads of the maintenance area: patch compliance, the cadences, change figures, the calendar.

Definitions (one source of truth, used by the metrics, the gate and the pages)
-----------------------------------------------------------------------------
Patch compliance over [start, end): the obligations *settled or due* in the
window, that is due in it (``start <= due_at < end``, met or not) or met in it
before their due date, without a valid exception at `end`. Met in time =
``met_at <= due_at``. An obligation still open past its due date counts as not
met. value = met in time ÷ counted x 100; obligations under a valid exception
(``exception_until > end``) are counted separately (details["excepted"]).
Scopes: ``global``, ``service:<slug>`` and ``host:<name>`` (repositories: ``repo:<name>``).

Schedule adherence over [start, end): per active service and per activity of
the policy with a cadence (``every``), the periods of that length that tile
back from `end` (the last one may start before `start` when the cadence is
longer than the window), starting no earlier than the service's creation; a
period is done on time when a ``done`` log of the activity falls inside it.
value = periods done ÷ periods x 100.

Changes over [start, end) (by actual start, cancelled ones left out):
success rate = successful without a linked incident ÷ changes with an
outcome; failure rate = (failed or backed out or linked to an incident) ÷
changes with an outcome; emergency share = emergency ÷ all changes.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Exists, F, Max, OuterRef, Q
from django.db.models.functions import Coalesce, TruncDate
from django.urls import reverse

from opsgov.models import Lifecycle, Service
from opsgov.policy import get_policy

from . import compliance
from .compliance import Compliance
from .models import (
    ChangeIncidentLink,
    ChangeKind,
    ChangeOutcome,
    ChangeRecord,
    ChangeState,
    Component,
    EndOfLife,
    FreezePeriod,
    LogOutcome,
    MaintenanceLog,
    MaintenanceWindow,
    PatchObligation,
    UpgradePlan,
)

#: Patch compliance, read from the rollup each report keeps up to date (maintenance.compliance).
patch_compliance = compliance.patch_compliance


def patch_compliance_scan(*, start: datetime, end: datetime) -> list[Compliance]:
    """Patch compliance per host/repository, per service and globally, read from every obligation (three grouped
    queries): the definition itself, which the rollup's answer (:func:`patch_compliance`) must equal."""
    settled_or_due = Q(due_at__gte=start, due_at__lt=end) | Q(
        met_at__gte=start, met_at__lt=end, met_at__lte=F("due_at")
    )
    excepted = Q(exception_until__gt=end)
    in_time = Q(met_at__isnull=False, met_at__lte=F("due_at"))
    rows = PatchObligation.objects.filter(settled_or_due)
    aggregates = {
        "met": Count("id", filter=in_time & ~excepted),
        "counted": Count("id", filter=~excepted),
        "excepted": Count("id", filter=excepted),
    }
    found: list[Compliance] = []
    overall = rows.aggregate(**aggregates)
    found.append(Compliance("global", overall["met"], overall["counted"], overall["excepted"]))
    for row in (
        rows.filter(service__isnull=False).values("service__slug").annotate(**aggregates).order_by("service__slug")
    ):
        found.append(Compliance(f"service:{row['service__slug']}", row["met"], row["counted"], row["excepted"]))
    for row in rows.values("asset").annotate(**aggregates).order_by("asset"):
        found.append(Compliance(row["asset"], row["met"], row["counted"], row["excepted"]))
    return found


def overdue_critical(*, now: datetime) -> list[PatchObligation]:
    """Open security-critical obligations past their deadline, without a valid exception."""
    return list(
        PatchObligation.objects.filter(patch_class="security_critical", met_at__isnull=True, due_at__lt=now)
        .exclude(exception_until__gt=now)
        .select_related("service", "host")
        .order_by("due_at")[:200]
    )


@dataclass(frozen=True)
class CadenceRow:
    service: Service
    activity: str
    title: str
    every: str
    last_done: datetime | None
    due_by: datetime
    overdue: bool


def _period(activity_every: Any) -> timedelta:
    return activity_every.approximate()


def cadence_status(*, now: datetime, services: list[Service] | None = None) -> list[CadenceRow]:
    """Per active service and activity with a cadence: the last done log and whether the activity is overdue
    (no done log within one period before `now`, counted from the service's creation)."""
    services = services if services is not None else list(Service.objects.filter(lifecycle=Lifecycle.ACTIVE))
    activities = {k: a for k, a in get_policy().maintenance.activities.items() if a.every is not None}
    last = {
        (row["service_id"], row["activity"]): row["last"]
        for row in MaintenanceLog.objects.filter(outcome=LogOutcome.DONE, service__in=services)
        .values("service_id", "activity")
        .annotate(last=Max("performed_at"))
        .order_by()
    }
    rows: list[CadenceRow] = []
    for service in services:
        for key, activity in activities.items():
            assert activity.every is not None
            period = _period(activity.every)
            done = last.get((service.pk, key))
            anchor = done or service.created_at
            due_by = anchor + period
            rows.append(CadenceRow(service, key, activity.title, str(activity.every), done, due_by, due_by < now))
    return rows


def schedule_adherence(*, start: datetime, end: datetime) -> dict[str, tuple[int, int]]:
    """{scope: (periods done on time, periods due)} for "global" and "service:<slug>"."""
    services = list(Service.objects.filter(lifecycle=Lifecycle.ACTIVE).order_by("slug"))
    activities = {k: a for k, a in get_policy().maintenance.activities.items() if a.every is not None}
    logs: dict[tuple[int, str], list[datetime]] = defaultdict(list)
    longest = max((a.every.approximate() for a in activities.values() if a.every), default=timedelta(0))
    for service_id, key, at in MaintenanceLog.objects.filter(
        outcome=LogOutcome.DONE, performed_at__gte=start - longest, performed_at__lt=end
    ).values_list("service_id", "activity", "performed_at"):
        logs[(service_id, key)].append(at)
    result: dict[str, tuple[int, int]] = {}
    total_done = total_due = 0
    for service in services:
        done = due = 0
        for key, activity in activities.items():
            assert activity.every is not None
            period = activity.every.approximate()
            stamps = logs.get((service.pk, key), [])
            period_end = end
            while True:
                period_start = period_end - period
                if period_end <= service.created_at:
                    break
                due += 1
                if any(period_start <= at < period_end for at in stamps):
                    done += 1
                if period_start <= start:
                    break
                period_end = period_start
        result[f"service:{service.slug}"] = (done, due)
        total_done += done
        total_due += due
    result["global"] = (total_done, total_due)
    return result


@dataclass(frozen=True)
class ChangeFigures:
    total: int
    with_outcome: int
    successful: int
    failed: int
    emergency: int


def change_figures(*, start: datetime, end: datetime) -> dict[str, ChangeFigures]:
    """Change counts per scope ("global", "service:<slug>") by actual start in [start, end)."""
    linked = Exists(ChangeIncidentLink.objects.filter(change=OuterRef("pk")))
    base = (
        ChangeRecord.objects.filter(actual_start__gte=start, actual_start__lt=end)
        .exclude(state=ChangeState.CANCELLED)
        .annotate(linked=linked)
    )
    failed = Q(outcome__in=[ChangeOutcome.FAILED, ChangeOutcome.BACKED_OUT]) | Q(linked=True, outcome__gt="")
    aggregates = {
        "total": Count("id", distinct=True),
        "with_outcome": Count("id", filter=~Q(outcome=""), distinct=True),
        "successful": Count("id", filter=Q(outcome=ChangeOutcome.SUCCESSFUL, linked=False), distinct=True),
        "failed": Count("id", filter=failed, distinct=True),
        "emergency": Count("id", filter=Q(kind=ChangeKind.EMERGENCY), distinct=True),
    }
    result = {"global": ChangeFigures(**base.aggregate(**aggregates))}
    for row in base.values("services__slug").annotate(**aggregates).order_by("services__slug"):
        if row["services__slug"]:
            slug = row.pop("services__slug")
            result[f"service:{slug}"] = ChangeFigures(**row)
    return result


def calendar_items(*, start: datetime, end: datetime, service: Service | None = None) -> list[dict[str, Any]]:
    """Window and freeze occurrences, changes and due maintenance in [start, end), sorted by start (withdrawn
    windows left out; windows awaiting approval marked so)."""
    items: list[dict[str, Any]] = []
    windows = MaintenanceWindow.objects.filter(withdrawn_at__isnull=True).prefetch_related("services")
    freezes = FreezePeriod.objects.prefetch_related("services")
    changes = ChangeRecord.objects.exclude(state=ChangeState.CANCELLED).prefetch_related("services")
    if service is not None:
        windows = windows.filter(services=service)
        freezes = freezes.filter(Q(services=service) | Q(services__isnull=True))
        changes = changes.filter(services=service)
    for window in windows.distinct():
        names = ", ".join(s.slug for s in window.services.all())
        for s, e in window.occurrences(start, end):
            items.append(
                {
                    "kind": "window",
                    "uid": f"window-{window.uuid}-{s:%Y%m%dT%H%M}",
                    "title": f"{window.name} ({names})",
                    "start": s,
                    "end": e,
                    "approved": window.is_approved,
                    "object": window,
                }
            )
    for freeze in freezes.distinct():
        for s, e in freeze.occurrences(start, end):
            items.append(
                {
                    "kind": "freeze",
                    "uid": f"freeze-{freeze.uuid}-{s:%Y%m%dT%H%M}",
                    "title": f"Freeze: {freeze.name}",
                    "start": s,
                    "end": e,
                    "approved": True,
                    "object": freeze,
                }
            )
    when = Q(planned_start__gte=start, planned_start__lt=end) | Q(
        planned_start__isnull=True, actual_start__gte=start, actual_start__lt=end
    )
    for change in changes.filter(when).distinct()[:2000]:
        begins = change.planned_start or change.actual_start
        ends = change.planned_end if change.planned_start else change.actual_end
        assert begins is not None
        items.append(
            {
                "kind": "change",
                "uid": f"change-{change.uuid}",
                "title": f"{change.number} {change.title}",
                "start": begins,
                "end": ends if ends and ends > begins else begins + timedelta(minutes=30),
                "approved": not change.conflicted,
                "object": change,
            }
        )
    for row in cadence_status(now=end, services=[service] if service else None):
        if start <= row.due_by < end:
            items.append(
                {
                    "kind": "due",
                    "uid": f"due-{row.service.slug}-{row.activity}-{row.due_by:%Y%m%d}",
                    "title": f"Due: {row.title} ({row.service.slug})",
                    "start": row.due_by,
                    "end": row.due_by + timedelta(hours=1),
                    "approved": not row.overdue,
                    "object": row.service,
                }
            )
    items.sort(key=lambda item: (item["start"], item["kind"]))
    return items


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    """One line of a calendar day: what ``calendar_items`` gives, without the model instance (a change's page
    address instead)."""

    kind: str
    title: str
    start: datetime
    end: datetime
    approved: bool
    url: str = ""
    #: The local day it starts on, when the database computed it (changes).
    first_day: date | None = None


#: How long a window's occurrences in a month stay cached (its key names every input they depend on).
OCCURRENCES_CACHE_SECONDS = 24 * 3600


def _occurrences_key(window: MaintenanceWindow, start: datetime, end: datetime) -> str:
    rule = "|".join(
        [
            window.kind,
            window.rrule,
            window.cron,
            window.timezone,
            window.first_start.isoformat(),
            str(window.duration.total_seconds()),
            window.updated_at.isoformat(),
        ]
    )
    digest = hashlib.sha256(rule.encode()).hexdigest()[:32]
    return f"maintenance:window-occurrences:{window.pk}:{digest}:{start:%Y%m%dT%H%M%S}:{end:%Y%m%dT%H%M%S}"


def cached_occurrences(
    windows: list[MaintenanceWindow], *, start: datetime, end: datetime
) -> dict[int, list[tuple[datetime, datetime]]]:
    """{window id: its occurrences overlapping [start, end)}, from the cache where it has them (one ``get_many``),
    keyed by the window's rule (kind, rule, time zone, first start, duration) and ``updated_at``, and the range:
    an edited window is expanded again."""
    keys = {window.pk: _occurrences_key(window, start, end) for window in windows}
    found = cache.get_many(list(keys.values()))
    result: dict[int, list[tuple[datetime, datetime]]] = {}
    missing: dict[str, list[tuple[datetime, datetime]]] = {}
    for window in windows:
        key = keys[window.pk]
        if key in found:
            result[window.pk] = found[key]
        else:
            result[window.pk] = missing[key] = window.occurrences(start, end)
    if missing:
        cache.set_many(missing, timeout=OCCURRENCES_CACHE_SECONDS)
    return result


def calendar_days(
    *, start: datetime, end: datetime, tz: tzinfo, service: Service | None = None
) -> dict[date, list[CalendarEntry]]:
    """The entries of the calendar page per local day (in `tz`) of [start, end): what ``calendar_items`` lists,
    each on every day it covers, in the same order (start, then kind), at a fixed number of queries (seven,
    whatever the month holds). Window occurrences come from ``cached_occurrences``; each change's first local
    day is computed by the database, and only its columns are read (no model instances)."""
    entries: list[CalendarEntry] = []
    windows = MaintenanceWindow.objects.filter(withdrawn_at__isnull=True).prefetch_related("services")
    freezes = FreezePeriod.objects.prefetch_related("services")
    changes = ChangeRecord.objects.exclude(state=ChangeState.CANCELLED)
    if service is not None:
        windows = windows.filter(services=service)
        freezes = freezes.filter(Q(services=service) | Q(services__isnull=True))
        changes = changes.filter(services=service)
    window_list = list(windows.distinct())
    occurrences = cached_occurrences(window_list, start=start, end=end)
    for window in window_list:
        title = f"{window.name} ({', '.join(s.slug for s in window.services.all())})"
        approved = window.is_approved
        entries.extend(CalendarEntry("window", title, s, e, approved) for s, e in occurrences[window.pk])
    for freeze in freezes.distinct():
        title = f"Freeze: {freeze.name}"
        entries.extend(CalendarEntry("freeze", title, s, e, True) for s, e in freeze.occurrences(start, end))
    when = Q(planned_start__gte=start, planned_start__lt=end) | Q(
        planned_start__isnull=True, actual_start__gte=start, actual_start__lt=end
    )
    rows = (
        changes.filter(when)
        .distinct()
        .annotate(local_day=TruncDate(Coalesce("planned_start", "actual_start"), tzinfo=tz))
        .values_list(
            "pk",
            "uuid",
            "title",
            "planned_start",
            "planned_end",
            "actual_start",
            "actual_end",
            "outside_window",
            "in_freeze",
            "local_day",
        )[:2000]
    )
    change_url = reverse("maintenance:change-detail", kwargs={"uuid": _URL_PLACEHOLDER})
    for pk, uid, title, planned_start, planned_end, actual_start, actual_end, outside, frozen, day in rows:
        begins = planned_start or actual_start
        ends = planned_end if planned_start else actual_end
        assert begins is not None  # the filter asks for one of them
        entries.append(
            CalendarEntry(
                "change",
                f"CHG-{pk} {title}",
                begins,
                ends if ends and ends > begins else begins + timedelta(minutes=30),
                not (outside or frozen),
                change_url.replace(_URL_PLACEHOLDER, str(uid)),
                day,
            )
        )
    for row in cadence_status(now=end, services=[service] if service else None):
        if start <= row.due_by < end:
            entries.append(
                CalendarEntry(
                    "due",
                    f"Due: {row.title} ({row.service.slug})",
                    row.due_by,
                    row.due_by + timedelta(hours=1),
                    not row.overdue,
                )
            )
    entries.sort(key=lambda entry: (entry.start, entry.kind))
    by_day: dict[date, list[CalendarEntry]] = defaultdict(list)
    one = timedelta(days=1)
    for entry in entries:
        day = entry.first_day or entry.start.astimezone(tz).date()
        last = max(day, (entry.end - timedelta(seconds=1)).astimezone(tz).date())
        while day <= last:
            by_day[day].append(entry)
            day += one
    return by_day


_URL_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class EolRow:
    component: Any
    cycle: str
    eol_date: date | None
    reached: bool
    planned: bool

    @property
    def label(self) -> str:
        return f"{self.component.product} {self.component.version} (cycle {self.cycle})"


def components_near_eol(*, now: datetime) -> list[EolRow]:
    """Components whose release cycle ends within the policy's ``maintenance.eol_plan_within`` (or has ended),
    with whether an upgrade plan exists."""
    within = get_policy().maintenance.eol_plan_within.as_timedelta()
    table: dict[str, dict[str, EndOfLife]] = defaultdict(dict)
    for row in EndOfLife.objects.all():
        table[row.product][row.cycle] = row
    found: list[EolRow] = []
    components = Component.objects.select_related("service").annotate(
        planned=Exists(UpgradePlan.objects.filter(component=OuterRef("pk")))
    )
    for component in components.filter(product__in=list(table)):
        cycles = table[component.product]
        cycle = component.cycle_of(list(cycles))
        if cycle is None:
            continue
        eol = cycles[cycle]
        reached = eol.eol_reached or (eol.eol_date is not None and eol.eol_date <= now.date())
        near = reached or (eol.eol_date is not None and eol.eol_date <= (now + within).date())
        if near:
            found.append(EolRow(component, cycle, eol.eol_date, reached, bool(component.planned)))
    return found
