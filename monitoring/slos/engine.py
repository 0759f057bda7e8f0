"""The SLO engine: error budgets, burn rates and multi-window, multi-burn-rate alerts.

The one source of truth for how an SLO is judged. ``evaluate_slos`` runs every
minute (beat task ``monitoring.tasks.evaluate_slos``, ``manage.py evaluate_slos``)
and writes one SLOStatus row per enabled SLO, which the UI, the gate, the
dashboard and /metrics read.

Data and windows
----------------
SLI data are good/total counts per bucket (monitoring.slos.sli). A bucket belongs to
every window that contains its *start* (buckets are not split). Every window of
a cycle ends at the same instant ``end``: the start of the current minute
(``now`` with seconds cut), so a window holds whole minutes and the minute still
being collected is left for the next cycle. A window is the half-open interval
[start, end).

- Rolling window (28 or 30 days): [end - N days, end).
- Calendar month: from midnight of the first day of the current month in the
  policy's business-calendar time zone (``policy.business_calendar.time_zone``)
  to ``end`` — the month to date.

Figures (SLOStatus)
-------------------
With good and total the sums over the SLO's window, bad = total - good and
budget_ratio = (100 - objective_percent) / 100 (0.001 for 99.9 %):

- ``sli_percent`` = good / total x 100.
- ``budget_consumed`` = bad / (budget_ratio x total): the bad events as a share
  of the bad events the objective allows for the traffic seen so far in the
  window.
- ``budget_remaining`` = 1 - budget_consumed: 1 untouched, 0 spent, negative
  overspent (-2 means three times the allowed bad events).
  Example: 99.9 %, 43,200,000 events, 1,200 bad -> allowed 43,200, consumed
  1,200 / 43,200 = 0.0278, remaining 0.9722.
- No data (total = 0 over the window): all three are empty (None), never 100 %
  or "untouched": nothing was measured. The gate's freshness rule
  (``policy.monitoring.sli_fresh_within``) is what flags an SLO without data.

Burn rates (``SLOStatus.burn_rates``), over 5m, 30m, 1h, 6h, 1d and 3d and every
window the policy's alerts name, each [end - length, end):

- burn rate = (bad / total over the window) / budget_ratio. 1 spends the budget
  exactly over the SLO window; 14.4 spends 2 % of a 30-day budget in an hour.
- No traffic in the window (total = 0): None (JSON null), not 0 — nothing burnt
  because nothing was measured. A None burn rate never fires an alert.

Alerts
------
Each entry of ``policy.monitoring.burn_rate_alerts`` (the SRE workbook's table:
page-fast 14.4x over 1h and 5m, page-slow 6x over 6h and 30m, ticket 1x over 3d
and 6h) fires for an SLO while the burn rate over BOTH its long and its short
window is >= its burn_rate, and clears as soon as either is below. The
comparison is exact (rational arithmetic on the counts: bad x 10^k >= rate x
ratio x total x 10^k), so a burn rate of exactly 14.4 fires and rounding never
decides. Per (SLO, alert key) an SLOAlertState row remembers whether it fires;
on a change the engine publishes an opsgov.events.ServiceAlert in the same
transaction (``firing`` when it starts, ``resolved`` when it clears), key
``slo:<uuid>:<alert key>``, severity ``Policy.burn_rate_severity``, details
naming the SLO (``slo``, ``slo_name``, ``slo_url``), the alert (``alert``,
``kind``: page or ticket) and its burn rates. incidents keys every alert of one
SLO to one incident per breach (incidents.ingest.slo_alerts: the most severe firing
alert's severity, resolved when the last one clears) and turns ticket-kind
alerts into a backlog follow-up instead of an incident. A
firing alert also clears when its SLO is disabled, deleted or moved to another
service, or when the policy drops the alert.

Incremental cost: rollups
-------------------------
Window sums never scan a window's buckets. SLI intake marks the UTC hours it
wrote (SLIDirtyHour); each cycle first recomputes, from the buckets, the hour
rollups (SLIHourRollup) of the marked hours only, adds each recomputed hour's
change (new sums minus old) to its day rollup (SLIDayRollup), and deletes
exactly the markers it read (a write committing meanwhile keeps its own marker
for the next cycle). Only the cycle holding the engine lock writes rollups.
The current hour is never read from its rollup (windows read it from the
buckets), so its markers wait until it is over: an hour's rollup is written
once, not at every new minute, and a cycle inside an hour recomputes nothing.
A window [start, end) is then read as at most five ranges: the
buckets up to the first whole hour, the hours up to the first whole UTC day,
the whole days, the hours after the last whole day and the buckets of the
current hour (:func:`decompose`). The ranges shared by several windows (all of
them end at ``end``) are read once, each as one grouped query over all SLOs,
so a cycle issues a fixed number of queries and reads, per SLO, at most about
60 buckets per window edge, 46 hours and 30 days — whatever the history. The
first cycle (or ``--rebuild``) builds every rollup from the buckets with two
INSERT ... SELECT statements.

Assumptions: buckets change only through monitoring.slos.sli.record_sli (which marks
them) or are deleted with their SLO (whose rollups go with it). Anything else
— a bulk fix in SQL — must be followed by ``manage.py evaluate_slos --rebuild``.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from django.db import connection, transaction
from django.db.models import Model, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from opsgov.events import ServiceAlert, raise_alert
from opsgov.policy import BurnRateAlert, Policy, get_policy

from ..models import (
    SLO,
    SLIBucket,
    SLIDayRollup,
    SLIDirtyHour,
    SLIHourRollup,
    SLOAlertState,
    SLOEngineState,
    SLOStatus,
    WindowKind,
)
from .prometheus_rules import slo_page_url

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

#: The burn-rate windows every SLOStatus reports (the policy's alerts may add more).
BURN_RATE_WINDOWS: tuple[timedelta, ...] = (
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(days=1),
    timedelta(days=3),
)

#: What an evaluation writes on an SLO's status row (SLOStatus), beside its slo and updated_at: the figures the
#: API, the admin and the pages show.
STATUS_FIELDS: tuple[str, ...] = (
    "evaluated_at",
    "window_start",
    "window_end",
    "good",
    "total",
    "sli_percent",
    "budget_remaining",
    "budget_consumed",
    "burn_rates",
    "firing",
)

#: More marked (SLO, hour) pairs than this and a cycle rebuilds every rollup instead (a bulk backfill).
REBUILD_ABOVE_PAIRS = 200_000

Progress = Callable[[str], None]


# --- Time arithmetic (UTC) -------------------------------------------------------------


def floor_minute(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def floor_day(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _ceil(at: datetime, floor: Callable[[datetime], datetime], step: timedelta) -> datetime:
    floored = floor(at)
    return floored if floored == at else floored + step


def window_label(length: timedelta) -> str:
    """'5m', '1h', '3d' ...: the largest whole unit of a window length (the keys of SLOStatus.burn_rates)."""
    seconds = int(length.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def describe_window(length: timedelta) -> str:
    """'5 minutes', '1 hour', '3 days': for alert titles."""
    label = window_label(length)
    amount, unit = int(label[:-1]), {"d": "day", "h": "hour", "m": "minute", "s": "second"}[label[-1]]
    return f"{amount} {unit}" if amount == 1 else f"{amount} {unit}s"


def slo_window(slo: SLO, end: datetime, policy: Policy) -> tuple[datetime, datetime]:
    """The SLO's budget window ending at `end`: rolling N days, or the calendar month to date."""
    if slo.window_kind == WindowKind.CALENDAR_MONTH:
        local = end.astimezone(policy.business_calendar.zone)
        first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return first.astimezone(UTC), end
    return end - timedelta(days=slo.window_days), end


# --- Window sums ----------------------------------------------------------------------

Level = Literal["bucket", "hour", "day"]
_TABLES: dict[Level, type[Model]] = {"bucket": SLIBucket, "hour": SLIHourRollup, "day": SLIDayRollup}


@dataclass(frozen=True)
class Segment:
    """A range [start, end) read at one level: bucket rows, hour rollups or day rollups."""

    level: Level
    start: datetime
    end: datetime


def decompose(start: datetime, end: datetime) -> list[Segment]:
    """[start, end) as at most five segments: buckets, hours, days, hours, buckets (empty ones left out).

    Example: [Nov 17 10:07, Nov 20 10:07) -> buckets [17th 10:07, 11:00), hours [17th 11:00, 18th 00:00),
    days [18th, 20th), hours [20th 00:00, 10:00), buckets [20th 10:00, 10:07).
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start >= end:
        return []
    first_hour, last_hour = _ceil(start, floor_hour, HOUR), floor_hour(end)
    if first_hour >= last_hour:
        return [Segment("bucket", start, end)]
    segments: list[Segment] = []
    if start < first_hour:
        segments.append(Segment("bucket", start, first_hour))
    first_day, last_day = _ceil(first_hour, floor_day, DAY), floor_day(last_hour)
    if first_day >= last_day:
        segments.append(Segment("hour", first_hour, last_hour))
    else:
        if first_hour < first_day:
            segments.append(Segment("hour", first_hour, first_day))
        segments.append(Segment("day", first_day, last_day))
        if last_day < last_hour:
            segments.append(Segment("hour", last_day, last_hour))
    if last_hour < end:
        segments.append(Segment("bucket", last_hour, end))
    return segments


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    """Id lists small enough for the database's parameter limit (SQLite: 999), whole on PostgreSQL."""
    limit = connection.features.max_query_params
    size = len(ids) if not limit else max(limit - 10, 1)
    for index in range(0, len(ids), max(size, 1)):
        yield ids[index : index + size]


def window_sums(
    ranges: Mapping[str, tuple[datetime, datetime]], slo_ids: Mapping[str, Collection[int]]
) -> dict[str, dict[int, tuple[int, int]]]:
    """(good, total) per range label and SLO id, for the SLOs `slo_ids[label]` names; absent = no data.

    Every range is decomposed (:func:`decompose`); a segment shared by several
    ranges is read once, by one grouped query over all the SLOs that need it.
    """
    wanted = {label: set(ids) for label, ids in slo_ids.items()}
    by_segment: dict[Segment, list[str]] = defaultdict(list)
    for label, (start, end) in ranges.items():
        if wanted.get(label):
            for segment in decompose(start, end):
                by_segment[segment].append(label)
    sums: dict[str, dict[int, tuple[int, int]]] = {label: {} for label in ranges}
    for segment, labels in by_segment.items():
        ids = sorted(set().union(*(wanted[label] for label in labels)))
        for chunk in _chunks(ids):
            rows = (
                _TABLES[segment.level]
                ._default_manager.filter(slo_id__in=chunk, start__gte=segment.start, start__lt=segment.end)
                .values_list("slo_id")
                .annotate(Sum("good"), Sum("total"))
                .order_by()
            )
            for slo_id, good, total in rows:
                for label in labels:
                    if slo_id in wanted[label]:
                        before = sums[label].get(slo_id, (0, 0))
                        sums[label][slo_id] = (before[0] + int(good), before[1] + int(total))
    return sums


# --- Rollups --------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshResult:
    """What one :func:`refresh_rollups` did."""

    full: bool
    hours: int  # (SLO, hour) rollups recomputed (every one after a rebuild)
    days: int  # (SLO, day) rollups recomputed
    seconds: float


def _insert_select(model: type[Model], queryset: QuerySet[Any]) -> int:
    """INSERT INTO the model's table (slo_id, start, good, total) the rows `queryset` selects, in that order."""
    select, params = queryset.query.sql_with_params()
    table = model._meta.db_table
    with connection.cursor() as cursor:
        # The table name comes from _meta and the SELECT from the ORM, whose values are bound.
        cursor.execute(f"INSERT INTO {table} (slo_id, start, good, total) {select}", params)
        return max(cursor.rowcount, 0)


def _hour_sums(condition: Q | None) -> QuerySet[Any]:
    buckets = SLIBucket.objects.all() if condition is None else SLIBucket.objects.filter(condition)
    return (
        buckets.annotate(hour=TruncHour("start", tzinfo=UTC))
        .values("slo_id", "hour")
        .annotate(good_sum=Sum("good"), total_sum=Sum("total"))
        .order_by()
    )


def _day_sums(condition: Q | None) -> QuerySet[Any]:
    hours = SLIHourRollup.objects.all() if condition is None else SLIHourRollup.objects.filter(condition)
    return (
        hours.annotate(day=TruncDay("start", tzinfo=UTC))
        .values("slo_id", "day")
        .annotate(good_sum=Sum("good"), total_sum=Sum("total"))
        .order_by()
    )


def _batches(periods: Mapping[datetime, set[int]]) -> Iterator[list[tuple[datetime, list[int]]]]:
    """(period start, SLO ids) groups whose statements stay within the parameter limit (ids + 2 per group)."""
    limit = (connection.features.max_query_params or 20_000) - 10
    batch: list[tuple[datetime, list[int]]] = []
    used = 0
    for start in sorted(periods):
        ids = sorted(periods[start])
        for index in range(0, len(ids), limit - 2):
            part = ids[index : index + limit - 2]
            if batch and used + len(part) + 2 > limit:
                yield batch
                batch, used = [], 0
            batch.append((start, part))
            used += len(part) + 2
    if batch:
        yield batch


def _recompute_hours(hours: Mapping[datetime, set[int]]) -> dict[tuple[int, datetime], tuple[int, int]]:
    """Replace the hour rollups of the (SLO, hour) pairs by fresh sums of their buckets.

    Returns the change of each pair's (good, total), new minus old, from which the
    day rollups are adjusted (:func:`_adjust_days`) instead of re-adding their hours.
    """
    changes: dict[tuple[int, datetime], tuple[int, int]] = {}
    for batch in _batches(hours):
        keys = Q()
        ranges = Q()
        for start, ids in batch:
            keys |= Q(slo_id__in=ids, start=start)
            ranges |= Q(slo_id__in=ids, start__gte=start, start__lt=start + HOUR)
        rows = SLIHourRollup.objects.filter(keys)
        old = {(slo_id, start): (good, total) for slo_id, start, good, total in rows.values_list(*_SUM_FIELDS)}
        rows.delete()
        _insert_select(SLIHourRollup, _hour_sums(ranges))
        new = {(slo_id, start): (good, total) for slo_id, start, good, total in rows.values_list(*_SUM_FIELDS)}
        for key in old.keys() | new.keys():
            before, after = old.get(key, (0, 0)), new.get(key, (0, 0))
            changes[key] = (after[0] - before[0], after[1] - before[1])
    return changes


_SUM_FIELDS = ("slo_id", "start", "good", "total")


def _adjust_days(changes: Mapping[tuple[int, datetime], tuple[int, int]]) -> int:
    """Add the hour changes to their day rollups: one read and one upsert per batch; returns the days touched.

    Exact: integer sums, and the engine lock makes this cycle the only writer of rollups.
    """
    deltas: dict[tuple[int, datetime], tuple[int, int]] = defaultdict(lambda: (0, 0))
    for (slo_id, hour), (good, total) in changes.items():
        sums = deltas[slo_id, floor_day(hour)]
        deltas[slo_id, floor_day(hour)] = (sums[0] + good, sums[1] + total)
    days: dict[datetime, set[int]] = defaultdict(set)
    for (slo_id, day), change in deltas.items():
        if change != (0, 0):
            days[day].add(slo_id)
    for batch in _batches(days):
        keys = Q()
        for start, ids in batch:
            keys |= Q(slo_id__in=ids, start=start)
        current = {
            (slo_id, start): (good, total)
            for slo_id, start, good, total in SLIDayRollup.objects.filter(keys).values_list(*_SUM_FIELDS)
        }
        rows = []
        for start, ids in batch:
            for slo_id in ids:
                before, change = current.get((slo_id, start), (0, 0)), deltas[slo_id, start]
                rows.append(
                    SLIDayRollup(slo_id=slo_id, start=start, good=before[0] + change[0], total=before[1] + change[1])
                )
        SLIDayRollup.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["slo", "start"], update_fields=["good", "total"]
        )
    return len(deltas)


def _analyze() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # fresh statistics for the range reads that follow a rebuild
            for model in (SLIHourRollup, SLIDayRollup):
                cursor.execute(f"ANALYZE {model._meta.db_table}")


def _refresh(*, full: bool, end: datetime, progress: Progress | None) -> RefreshResult:
    """Bring the rollups up to date for windows ending at `end` (in the caller's transaction, holding the lock).

    Hours from floor_hour(end) on are left marked: windows ending at `end` read
    them from the buckets (see :func:`decompose`), so their rollups are computed
    once, when they are complete, instead of at every new minute.
    """
    began = time.monotonic()
    state = SLOEngineState.objects.get(pk=1)
    rebuild = full or state.built_at is None
    markers = list(
        (SLIDirtyHour.objects.all() if rebuild else SLIDirtyHour.objects.filter(hour__lt=floor_hour(end))).values_list(
            "pk", "slo_id", "hour"
        )
    )
    hours: dict[datetime, set[int]] = defaultdict(set)
    for _, slo_id, hour in markers:
        hours[floor_hour(hour)].add(slo_id)
    pairs = sum(len(ids) for ids in hours.values())
    rebuild = rebuild or pairs > REBUILD_ABOVE_PAIRS
    if rebuild:
        # Markers read now are covered by the rebuild (it reads every bucket committed before it starts).
        markers = list(SLIDirtyHour.objects.values_list("pk", "slo_id", "hour"))
        if progress:
            progress("rebuilding the hour rollups from every SLI bucket ...")
        SLIHourRollup.objects.all().delete()
        SLIDayRollup.objects.all().delete()
        hour_rows = _insert_select(SLIHourRollup, _hour_sums(None))
        if progress:
            progress(f"  {hour_rows} hour rollups; rebuilding the day rollups ...")
        day_rows = _insert_select(SLIDayRollup, _day_sums(None))
        if progress:
            progress(f"  {day_rows} day rollups")
        _analyze()
        SLOEngineState.objects.filter(pk=1).update(built_at=timezone.now())
    else:
        changes = _recompute_hours(hours)
        # Counted as (SLO, period) pairs recomputed: a period whose buckets are all gone writes no row.
        hour_rows, day_rows = pairs, _adjust_days(changes)
    for chunk in _chunks([pk for pk, _, _ in markers]):
        SLIDirtyHour.objects.filter(pk__in=chunk).delete()
    return RefreshResult(full=rebuild, hours=hour_rows, days=day_rows, seconds=time.monotonic() - began)


def _ensure_state() -> None:
    """Create the engine's state row on first use; called before a cycle's transaction where possible, so a
    cycle never waits on another one's uncommitted creation of it."""
    SLOEngineState.objects.get_or_create(pk=1)


def _lock_engine(*, wait: bool) -> SLOEngineState | None:
    """Lock the engine's state row; None when another cycle holds it and wait=False."""
    _ensure_state()
    return SLOEngineState.objects.select_for_update(skip_locked=not wait).filter(pk=1).first()


def lock_engine() -> None:
    """Wait for a running cycle and keep cycles out until the caller's transaction ends.

    SLO services that change alert state (disable, move, delete an SLO) take it
    first, before touching the SLO row, so they neither race a cycle's alert
    decisions nor deadlock with its status writes.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_engine() needs a transaction")
    _lock_engine(wait=True)


def refresh_rollups(
    *, now: datetime | None = None, full: bool = False, progress: Progress | None = None
) -> RefreshResult:
    """Bring the rollups up to date for windows ending at ``now``, in one transaction, waiting for a running cycle.

    Also the availability metric's ``prepare`` (it reads windows through the rollups too).
    """
    _ensure_state()
    with transaction.atomic():
        _lock_engine(wait=True)
        return _refresh(full=full, end=floor_minute(now or timezone.now()), progress=progress)


def rebuild_rollups(*, progress: Progress | None = None) -> RefreshResult:
    """Rebuild every rollup from the buckets (after a bulk data fix that bypassed SLI intake)."""
    return refresh_rollups(full=True, progress=progress)


# --- Figures --------------------------------------------------------------------------


def budget_ratio(slo: SLO) -> Fraction:
    """(100 - objective) / 100 as an exact fraction: 1/1000 for 99.9 %."""
    return Fraction(Decimal(100) - Decimal(slo.objective_percent)) / 100


@dataclass(frozen=True)
class Figures:
    """Good and total over a window, and what follows from them for one SLO."""

    good: int
    total: int
    ratio: Fraction

    @property
    def bad(self) -> int:
        return self.total - self.good

    @property
    def sli_percent(self) -> float | None:
        return None if self.total == 0 else self.good * 100 / self.total

    @property
    def budget_consumed(self) -> float | None:
        """bad / (budget_ratio x total); None without data."""
        return None if self.total == 0 else float(Fraction(self.bad) / (self.ratio * self.total))

    @property
    def budget_remaining(self) -> float | None:
        consumed = self.budget_consumed
        return None if consumed is None else float(1 - Fraction(self.bad) / (self.ratio * self.total))

    @property
    def burn_rate(self) -> float | None:
        """(bad / total) / budget_ratio; None without traffic."""
        return None if self.total == 0 else float(Fraction(self.bad, self.total) / self.ratio)

    def burns_at_least(self, rate: float) -> bool:
        """Exactly: bad / total / ratio >= rate (False without traffic)."""
        if self.total == 0:
            return False
        return Fraction(self.bad, self.total) >= Fraction(str(rate)) * self.ratio


@dataclass(frozen=True)
class CycleResult:
    """What one :func:`evaluate_slos` did."""

    skipped: bool = False
    evaluated: int = 0
    refresh: RefreshResult | None = None
    fired: list[str] = field(default_factory=list)  # alert keys (slo:<uuid>:<key>) that started firing
    cleared: list[str] = field(default_factory=list)
    seconds: float = 0.0


def burn_windows(policy: Policy) -> dict[str, timedelta]:
    """Label -> length of every burn-rate window reported: the standard six and the policy's alert windows."""
    lengths = set(BURN_RATE_WINDOWS)
    for alert in policy.monitoring.burn_rate_alerts.values():
        lengths.add(alert.long_window.as_timedelta())
        lengths.add(alert.short_window.as_timedelta())
    return {window_label(length): length for length in sorted(lengths)}


def alert_key(slo: SLO, key: str) -> str:
    return f"slo:{slo.uuid}:{key}"


def _format_rate(rate: float | None) -> str:
    return "no traffic" if rate is None else f"{rate:.1f}x"


def _firing_title(slo: SLO, alert: BurnRateAlert, long_rate: float | None, short_rate: float | None) -> str:
    long_w, short_w = alert.long_window.as_timedelta(), alert.short_window.as_timedelta()
    return (
        f"SLO {slo.name} ({slo.service.name}) burns its error budget at {_format_rate(long_rate)} over "
        f"{describe_window(long_w)} and {_format_rate(short_rate)} over {describe_window(short_w)} "
        f"(threshold {alert.burn_rate:g}x)"
    )[:500]


def _publish(
    slo: SLO,
    *,
    key: str,
    status: Literal["firing", "resolved"],
    severity: str,
    title: str,
    at: datetime,
    summary: str,
    details: dict[str, Any],
    service_id: int | None = None,
) -> str:
    full_key = alert_key(slo, key)
    raise_alert(
        ServiceAlert(
            service_id=service_id if service_id is not None else slo.service_id,
            key=full_key,
            status=status,
            severity=severity,
            title=title,
            at=at,
            source="slo",
            summary=summary,
            details={"slo": str(slo.uuid), "slo_name": slo.name, "slo_url": slo_page_url(slo), "alert": key, **details},
        )
    )
    return full_key


def clear_alerts(*, slo: SLO, at: datetime, reason: str, service_id: int | None = None) -> list[str]:
    """Resolve every firing burn-rate alert of `slo` (disabled, deleted, moved); in the caller's transaction.

    `service_id` names the service the alerts were raised for when it is no longer `slo.service_id`.
    The caller holds :func:`lock_engine`.
    """
    firing = SLOAlertState.objects.select_for_update().filter(slo=slo, firing=True)
    return [_resolve(slo, state, at=at, reason=reason, service_id=service_id) for state in firing]


def fires(windows: Mapping[str, Figures], alert: BurnRateAlert) -> bool:
    """The alert's condition: burn rate >= its threshold over both its long and its short window."""
    return windows[window_label(alert.long_window.as_timedelta())].burns_at_least(alert.burn_rate) and windows[
        window_label(alert.short_window.as_timedelta())
    ].burns_at_least(alert.burn_rate)


def _apply_alerts(
    slos: list[SLO], burns: Mapping[int, Mapping[str, Figures]], *, at: datetime, policy: Policy
) -> tuple[list[str], list[str]]:
    """Compare what fires now with the stored alert states; publish and record the changes only."""
    fired: list[str] = []
    cleared: list[str] = []
    firing_before = {
        (state.slo_id, state.key): state for state in SLOAlertState.objects.filter(firing=True).select_for_update()
    }
    for slo in slos:
        for key, alert in policy.monitoring.burn_rate_alerts.items():
            firing = fires(burns[slo.pk], alert)
            before = firing_before.pop((slo.pk, key), None)
            if firing and before is None:
                fired.append(_fire(slo, key, alert, _burn_details(alert, burns[slo.pk]), at=at, policy=policy))
            elif not firing and before is not None:
                cleared.append(_clear(slo, before, alert, _burn_details(alert, burns[slo.pk]), at=at))
    # Left over: alerts of SLOs no longer evaluated (disabled) or keys the policy dropped.
    if firing_before:
        orphans = SLO.objects.select_related("service").in_bulk({slo_id for slo_id, _ in firing_before})
        for (slo_id, _), state in firing_before.items():
            slo = orphans[slo_id]
            reason = "alert removed from the policy" if slo.enabled else "SLO disabled"
            cleared.append(_resolve(slo, state, at=at, reason=reason))
    return fired, cleared


def _burn_details(alert: BurnRateAlert, windows: Mapping[str, Figures]) -> dict[str, Any]:
    """What an alert that starts or stops firing reports: its threshold and windows, the SLO's burn rates over them."""
    long_window = window_label(alert.long_window.as_timedelta())
    short_window = window_label(alert.short_window.as_timedelta())
    return {
        "threshold": alert.burn_rate,
        "long_window": long_window,
        "short_window": short_window,
        "long_burn_rate": windows[long_window].burn_rate,
        "short_burn_rate": windows[short_window].burn_rate,
        "kind": alert.kind,
    }


def _fire(slo: SLO, key: str, alert: BurnRateAlert, details: dict[str, Any], *, at: datetime, policy: Policy) -> str:
    """The alert starts firing: its state row says so, and a firing ServiceAlert is published."""
    long_rate, short_rate = details["long_burn_rate"], details["short_burn_rate"]
    title = _firing_title(slo, alert, long_rate, short_rate)
    severity = policy.burn_rate_severity(alert)
    SLOAlertState.objects.update_or_create(
        slo=slo,
        key=key,
        defaults={
            "firing": True,
            "severity": severity,
            "changed_at": at,
            "long_burn_rate": long_rate,
            "short_burn_rate": short_rate,
            "title": title,
        },
    )
    return _publish(
        slo,
        key=key,
        status="firing",
        severity=severity,
        title=title,
        at=at,
        summary=f"Alert {key} ({alert.kind}): burn rate >= {alert.burn_rate:g}x over both "
        f"{describe_window(alert.long_window.as_timedelta())} and "
        f"{describe_window(alert.short_window.as_timedelta())}.",
        details=details,
    )


def _clear(slo: SLO, state: SLOAlertState, alert: BurnRateAlert, details: dict[str, Any], *, at: datetime) -> str:
    """The alert's burn rate fell below its threshold over a window: its state clears, a resolution is published."""
    long_rate, short_rate = details["long_burn_rate"], details["short_burn_rate"]
    state.firing = False
    state.changed_at = at
    state.long_burn_rate, state.short_burn_rate = long_rate, short_rate
    state.save(update_fields=["firing", "changed_at", "long_burn_rate", "short_burn_rate", "updated_at"])
    return _publish(
        slo,
        key=state.key,
        status="resolved",
        severity=state.severity,
        title=f"SLO {slo.name} ({slo.service.name}): {state.key} cleared, burn rate "
        f"{_format_rate(long_rate)} over {describe_window(alert.long_window.as_timedelta())} and "
        f"{_format_rate(short_rate)} over {describe_window(alert.short_window.as_timedelta())}"[:500],
        at=at,
        summary=f"Burn rate below {alert.burn_rate:g}x over at least one window.",
        details=details,
    )


def _resolve(slo: SLO, state: SLOAlertState, *, at: datetime, reason: str, service_id: int | None = None) -> str:
    """A firing alert ends for `reason` rather than for its burn rate (the SLO is disabled, deleted or moved, or
    the policy dropped the alert): its state clears, a resolution is published."""
    key = _publish(
        slo,
        key=state.key,
        status="resolved",
        severity=state.severity,
        title=f"SLO {slo.name}: alert {state.key} cleared ({reason})"[:500],
        at=at,
        summary=reason,
        details={},
        service_id=service_id,
    )
    state.firing = False
    state.changed_at = at
    state.save(update_fields=["firing", "changed_at", "updated_at"])
    return key


def evaluate_slos(
    *,
    now: datetime | None = None,
    rebuild: bool = False,
    wait: bool = True,
    progress: Progress | None = None,
) -> CycleResult:
    """One evaluation cycle, in one transaction: rollups, then every enabled SLO's status and alerts.

    With wait=False (the beat task) a cycle that finds another one running
    returns at once (skipped=True) instead of queueing behind it.
    """
    began = time.monotonic()
    now = now or timezone.now()
    end = floor_minute(now)
    policy = get_policy()
    _ensure_state()
    with transaction.atomic():
        if _lock_engine(wait=wait) is None:
            return CycleResult(skipped=True)
        refresh = _refresh(full=rebuild, end=end, progress=progress)
        if progress:
            progress(
                f"rollups: {'rebuilt' if refresh.full else 'refreshed'} "
                f"({refresh.hours} hour(s), {refresh.days} day(s)) in {refresh.seconds:.2f} s"
            )
        slos = list(SLO.objects.filter(enabled=True).select_related("service").order_by("pk"))
        windows = _CycleWindows.of(slos, end=end, policy=policy)
        if progress:
            progress(f"reading the windows of {len(slos)} SLO(s) ...")
        sums = window_sums(windows.ranges, windows.slo_ids)
        burns = {slo.pk: windows.burn_figures(slo, sums) for slo in slos}
        _save_statuses([windows.status(slo, sums, burns[slo.pk], now=now, policy=policy) for slo in slos])
        fired, cleared = _apply_alerts(slos, burns, at=end, policy=policy)
        _record_cycle(now=now, refresh=refresh, slos=len(slos), seconds=time.monotonic() - began)
    for key in fired:
        logger.warning("SLO alert firing: %s", key)
    for key in cleared:
        logger.info("SLO alert cleared: %s", key)
    return CycleResult(
        evaluated=len(slos), refresh=refresh, fired=fired, cleared=cleared, seconds=time.monotonic() - began
    )


@dataclass(frozen=True)
class _CycleWindows:
    """The windows one cycle reads, all ending at the same instant: the burn-rate windows (every SLO is read over
    each) and the SLOs' budget windows (rolling, or the calendar month to date)."""

    ranges: dict[str, tuple[datetime, datetime]]  # label -> [start, end)
    slo_ids: dict[str, set[int]]  # label -> the SLOs read over it
    burn_labels: tuple[str, ...]  # the burn-rate windows' labels ("5m", "1h", ...)
    budget: dict[int, str]  # SLO id -> the label of its budget window

    @classmethod
    def of(cls, slos: list[SLO], *, end: datetime, policy: Policy) -> _CycleWindows:
        lengths = burn_windows(policy)
        ranges: dict[str, tuple[datetime, datetime]] = {label: (end - length, end) for label, length in lengths.items()}
        ids: dict[str, set[int]] = {label: {slo.pk for slo in slos} for label in lengths}
        budget: dict[int, str] = {}
        for slo in slos:
            start, _ = slo_window(slo, end, policy)
            label = f"slo-window:{start.isoformat()}"
            ranges[label] = (start, end)
            ids.setdefault(label, set()).add(slo.pk)
            budget[slo.pk] = label
        return cls(ranges=ranges, slo_ids=ids, burn_labels=tuple(lengths), budget=budget)

    def burn_figures(self, slo: SLO, sums: Mapping[str, Mapping[int, tuple[int, int]]]) -> dict[str, Figures]:
        """The SLO's figures over each burn-rate window, by label."""
        ratio = budget_ratio(slo)
        return {label: Figures(*sums[label].get(slo.pk, (0, 0)), ratio=ratio) for label in self.burn_labels}

    def status(
        self,
        slo: SLO,
        sums: Mapping[str, Mapping[int, tuple[int, int]]],
        burns: Mapping[str, Figures],
        *,
        now: datetime,
        policy: Policy,
    ) -> SLOStatus:
        """The SLO's status row: its budget window's figures, its burn rates and the policy's alerts it fires."""
        label = self.budget[slo.pk]
        whole = Figures(*sums[label].get(slo.pk, (0, 0)), ratio=budget_ratio(slo))
        window_start, window_end = self.ranges[label]
        return SLOStatus(
            slo=slo,
            evaluated_at=now,
            window_start=window_start,
            window_end=window_end,
            good=whole.good,
            total=whole.total,
            sli_percent=whole.sli_percent,
            budget_remaining=whole.budget_remaining,
            budget_consumed=whole.budget_consumed,
            burn_rates={label: figures.burn_rate for label, figures in burns.items()},
            firing=[key for key, alert in policy.monitoring.burn_rate_alerts.items() if fires(burns, alert)],
        )


def _save_statuses(statuses: list[SLOStatus]) -> None:
    """Write the cycle's status rows, one per SLO: inserted the first time, overwritten after."""
    if statuses:
        SLOStatus.objects.bulk_create(
            statuses,
            update_conflicts=True,
            unique_fields=["slo"],
            update_fields=[*STATUS_FIELDS, "updated_at"],
            batch_size=500,
        )


def _record_cycle(*, now: datetime, refresh: RefreshResult, slos: int, seconds: float) -> None:
    """What the cycle did, on the engine's state row (admin)."""
    SLOEngineState.objects.filter(pk=1).update(
        evaluated_at=now,
        last_full=refresh.full,
        last_hours=refresh.hours,
        last_slos=slos,
        last_seconds=seconds,
        updated_at=timezone.now(),
    )
