"""Incident metrics MTTA, MTTR and MTBF: the one source of truth for their definitions.

Scopes, windows, units
----------------------
Every figure is computed for each scope — ``service:<slug>``, ``team:<slug>``
(the services the team owns now, through Service.owner_team),
``severity:<key>`` and ``global`` — over each window of
``opsgov.registry.WINDOWS`` (7, 30 and 90 days) ending at ``now``. A window is
the closed interval [now - length, now]. Cancelled incidents (false alarms) are
excluded from every figure; so are incidents triggered during an approved
maintenance window of their service (``Incident.during_maintenance``) when the
policy's ``maintenance.maintenance_alerts_count_in_metrics`` is false (by
default they count). Values are seconds (float); ``None`` means "nothing
to measure", never zero. Every service and every team owning a service gets a
figure, even an empty one, so a service page always has something to show.

MTTA — mean time to acknowledge
    Mean of (acknowledged_at - triggered_at) over the incidents *triggered* in
    the window that were acknowledged. Incidents without an acknowledgement
    (still open, or resolved or mitigated without one) are left out of the mean
    and counted in ``details["unacknowledged"]``; ``details["triggered"]``
    counts all incidents triggered in the window. sample_size = the
    acknowledged incidents.

MTTR — mean time to resolve
    Mean of (resolved_at - triggered_at) over the incidents *resolved* in the
    window (resolved_at inside it, even when triggered before it).
    sample_size = the resolved incidents. A reopened incident has no
    resolved_at, so it counts again only once resolved again.

Percentiles of MTTA and MTTR
    ``details["p50"]`` and ``details["p90"]`` interpolate linearly between the
    closest ranks, exactly as PostgreSQL's ``percentile_cont`` (and numpy's
    default): for the n durations sorted x[0] <= ... <= x[n-1], percentile p is
    at position h = (n - 1)·p and equals x[⌊h⌋] + (h - ⌊h⌋)·(x[⌊h⌋+1] - x[⌊h⌋]).
    Example: 2, 5 and 11 minutes give p50 = x[1] = 5 min and p90 (h = 1.8) =
    5 + 0.8 x 6 = 9.8 min. They are exact, not estimated, and None when n = 0.
    PostgreSQL computes them with its own ``percentile_cont`` (the definition
    itself); SQLite, which has none, ranks the durations with ROW_NUMBER, the
    two values around position h come back, and this module interpolates with
    h as an exact fraction. The tests hold both databases to a plain-Python
    reading of this definition.

MTBF — mean time between failures
    (window length - downtime) ÷ failures, where

    * failures = incidents of a failure severity
      (``policy.incidents.failure_severities``, SEV-1 and SEV-2 by default)
      *triggered* in the window;
    * downtime = the length of the union of those incidents' outage intervals
      [triggered_at, resolved_at — or now while unresolved) clipped to the
      window. A failure triggered before the window counts for the part that
      overlaps the window (but not as a failure of this window); overlapping
      outages count once.

    All failure-severity incidents count towards downtime, not only those
    flagged customer_impact: a SEV-1/SEV-2 is a failure by policy whether or not
    customers noticed, so its duration is time spent failed, not time "between"
    failures, and numerator and denominator speak of the same incidents.
    (Availability, by contrast, uses customer-impacting downtime.)
    Each scope is one system over the window: a team's or the global MTBF uses
    the union of its services' outages and all their failures. Severity scopes
    exist only for failure severities. With no failure in the window the value
    is None and details are ``{"no_failures": true, "display": "> 30 days"}``
    (the window's length): better than any figure we could state, and never
    shown as zero or infinity. details also hold "failures",
    "downtime_seconds" and "window_seconds"; sample_size = failures.

How the figures are computed
----------------------------
Rollups. :class:`~incidents.models.IncidentDayRollup` holds, per (UTC trigger
day, UTC resolve day, service, severity, during maintenance), the count of incidents triggered,
acknowledged and resolved with the sums of their acknowledge and resolve
durations. Window counts, sums (hence means and sample sizes) and MTBF's
failure counts add up the rollup rows of the window's whole UTC days (at most
90 per cell); the two partial days at the window's edges are read from the
incident rows (an index range scan of at most one day each). The team and
global figures add up service cells here, over at most services x severities
rows, so moving a service to another team needs no rebuild, nor does a policy
change of the failure severities or of whether maintenance incidents count.

Exact order statistics. Percentiles cannot be added up from sums, and
downtime is a union, not a sum. Both come from the window's incident rows
(range scans on triggered_at / resolved_at, bounded by the window, never by
history). We chose exact figures over per-day histograms: at realistic
incident densities a histogram per (day, service, severity) cell holds about
as many rows as there are incidents (a few incidents per cell and day), so it
would save little while making every percentile approximate and
hand-unverifiable. The price: a computation cycle reads each window's
incidents once per metric (docs/benchmarks.md: about 1.3 s for 1M incidents
over two years, the same for 2M over four; the rollup refresh itself takes
about 20 ms).

Incremental refresh (``prepare``). :func:`refresh_rollups` runs once per
computation cycle. The first run builds every day. Afterwards it recomputes,
whole and from the incident rows, only the trigger days of incidents whose
``updated_at`` is after the watermark, plus days marked dirty by a deletion.
Every contribution of an incident lives in rows of its trigger day, which
never changes, so a resolution moved to another day, a reopen that cleared
resolved_at, a cancel or a new severity or service replaces the stale
contribution exactly. The watermark trails the refresh by
:data:`CHANGE_MARGIN`, so a transaction that wrote updated_at before a refresh
but committed after it is still picked up next time; the cost is that recent
days are recomputed once more. Assumptions: triggered_at never changes after
creation (the lifecycle never changes it; the admin shows it read-only), and
every write to an incident bumps updated_at (``Model.save`` does; a
``QuerySet.update`` must set it explicitly).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.db.models.signals import post_delete
from django.utils import timezone

from opsgov.models import Service
from opsgov.policy import get_policy
from opsgov.registry import WINDOWS, MetricDefinition, MetricValue, metrics

from .models import (
    OPEN_STATUSES,
    Incident,
    IncidentDayRollup,
    IncidentRollupDirtyDay,
    IncidentRollupState,
    IncidentStatus,
)
from .reviews.metrics import CLOSING_RATE

logger = logging.getLogger(__name__)

# How long a write transaction may take between setting updated_at and committing
# (plus clock skew between app servers): the refresh watermark trails by this much.
CHANGE_MARGIN = timedelta(minutes=10)

# Percentiles reported beside the means, as exact fractions: key -> (numerator, denominator).
PERCENTILES: dict[str, tuple[int, int]] = {"p50": (1, 2), "p90": (9, 10)}

GLOBAL = "global"

_CANCELLED = IncidentStatus.CANCELLED.value
_OPEN = [str(status) for status in OPEN_STATUSES]


# --- SQL fragments that must mean the same on PostgreSQL and SQLite ------------------


def _epoch(column: str) -> str:
    """SQL for the seconds since 1970-01-01 UTC of a timestamp column (NULL stays NULL), as a float.

    Exact to the microsecond on both databases: PostgreSQL's EXTRACT(EPOCH) is
    exact, and SQLite stores Django timestamps as UTC text
    "YYYY-MM-DD HH:MM:SS[.ffffff]", whose whole seconds strftime('%s') reads and
    whose fraction is the text from the 20th character.
    """
    if connection.vendor == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS DOUBLE PRECISION)"
    if connection.vendor == "sqlite":
        # "%%" because Django's cursors format the query with its parameters.
        seconds = f"CAST(strftime('%%s', {column}) AS REAL)"
        fraction = f"COALESCE(CAST(NULLIF(substr({column}, 20), '') AS REAL), 0.0)"
        return f"({seconds} + {fraction})"
    raise ImproperlyConfigured(f"incident metrics support PostgreSQL and SQLite, not {connection.vendor}")


def _day(column: str) -> str:
    """SQL for the UTC calendar day of a timestamp column (NULL stays NULL)."""
    if connection.vendor == "postgresql":
        return f"CAST(({column} AT TIME ZONE 'UTC') AS DATE)"
    if connection.vendor == "sqlite":
        return f"date({column})"
    raise ImproperlyConfigured(f"incident metrics support PostgreSQL and SQLite, not {connection.vendor}")


def _ts(value: datetime) -> Any:
    """A timestamp as a raw-SQL parameter, stored the way the ORM stores it."""
    return connection.ops.adapt_datetimefield_value(value)


def _placeholders(values: Sequence[object]) -> str:
    return ", ".join(["%s"] * len(values))


def _tables() -> dict[str, str]:
    return {
        "incident": Incident._meta.db_table,
        "rollup": IncidentDayRollup._meta.db_table,
        "service": Service._meta.db_table,
    }


def _sums_sql() -> str:
    """Per-group sums of the incident rows aliased ``i``: the one definition rollups and edge scans share."""
    ack = f"{_epoch('i.acknowledged_at')} - {_epoch('i.triggered_at')}"
    resolve = f"{_epoch('i.resolved_at')} - {_epoch('i.triggered_at')}"
    return (
        "COUNT(*), COUNT(i.acknowledged_at), "
        f"COALESCE(SUM({ack}), 0.0), "
        "COUNT(i.resolved_at), "
        f"COALESCE(SUM({resolve}), 0.0)"
    )


def _counted() -> tuple[str, list[Any]]:
    """SQL condition (and parameters) on the incident rows aliased ``i`` that the policy counts: not cancelled,
    and not triggered during maintenance when maintenance alerts do not count."""
    if get_policy().maintenance.maintenance_alerts_count_in_metrics:
        return "i.status <> %s", [_CANCELLED]
    return "i.status <> %s AND i.during_maintenance = %s", [_CANCELLED, False]


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# --- Rollups -----------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshResult:
    """What one :func:`refresh_rollups` did."""

    full: bool
    days: frozenset[date]  # trigger days recomputed (empty after a full rebuild: every day was)
    rows: int  # rollup rows written
    seconds: float


def _insert_rollups(start: datetime | None, end: datetime | None) -> int:
    """Insert the rollup rows of the incidents triggered in [start, end) (all when None); returns the row count."""
    tables = _tables()
    where = ["i.status <> %s"]
    params: list[Any] = [_CANCELLED]
    if start is not None and end is not None:
        where.append("i.triggered_at >= %s AND i.triggered_at < %s")
        params += [_ts(start), _ts(end)]
    sql = (
        f"INSERT INTO {tables['rollup']} (trigger_day, resolve_day, service_id, severity, during_maintenance,"  # noqa: S608 - names from _meta, values bound
        " triggered, acknowledged, ack_seconds, resolved, resolve_seconds) "
        f"SELECT {_day('i.triggered_at')}, {_day('i.resolved_at')}, i.service_id, i.severity, i.during_maintenance,"
        f" {_sums_sql()} FROM {tables['incident']} i WHERE {' AND '.join(where)} "
        "GROUP BY 1, 2, 3, 4, 5"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def _changed_days(since: datetime) -> set[date]:
    """Trigger days of the incidents changed after `since` (cancelled ones too: they must leave the rollups)."""
    tables = _tables()
    sql = f"SELECT DISTINCT {_day('i.triggered_at')} FROM {tables['incident']} i WHERE i.updated_at > %s"  # noqa: S608 - names from _meta, values bound
    with connection.cursor() as cursor:
        cursor.execute(sql, [_ts(since)])
        return {_as_date(row[0]) for row in cursor.fetchall()}


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive days grouped into inclusive (first, last) runs, so a burst of days costs few statements."""
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


@transaction.atomic
def refresh_rollups(*, now: datetime | None = None, full: bool = False) -> RefreshResult:
    """Bring :class:`IncidentDayRollup` up to date with the incidents; one transaction.

    The first call (or ``full=True``) rebuilds every day; later calls recompute only
    the trigger days of incidents changed since the watermark and days marked dirty
    by deletions. ``now`` is accepted for the registry's ``prepare`` protocol; the
    watermark follows the wall clock (updated_at is written from it), not ``now``.
    Concurrent refreshes queue on the state row's lock.
    """
    began = time.monotonic()
    clock = timezone.now()
    state, _ = IncidentRollupState.objects.select_for_update().get_or_create(pk=1)
    dirty = list(IncidentRollupDirtyDay.objects.values_list("pk", "day"))
    rows = 0
    days: set[date] = set()
    rebuild = full or state.watermark is None
    if rebuild:
        IncidentDayRollup.objects.all().delete()
        rows = _insert_rollups(None, None)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # fresh statistics for the window queries that follow
                cursor.execute(f"ANALYZE {_tables()['rollup']}")
        state.built_at = clock
    else:
        assert state.watermark is not None
        days = _changed_days(state.watermark) | {day for _, day in dirty}
        for first, last in _runs(days):
            IncidentDayRollup.objects.filter(trigger_day__gte=first, trigger_day__lte=last).delete()
            rows += _insert_rollups(_midnight(first), _midnight(last + timedelta(days=1)))
    if dirty:
        IncidentRollupDirtyDay.objects.filter(pk__in=[pk for pk, _ in dirty]).delete()
    watermark = clock - CHANGE_MARGIN
    state.watermark = watermark if state.watermark is None or rebuild else max(state.watermark, watermark)
    state.refreshed_at = clock
    state.last_full = rebuild
    state.last_days = len(days)
    state.last_rows = rows
    state.last_seconds = time.monotonic() - began
    state.save()
    logger.log(
        logging.INFO if rebuild else logging.DEBUG,
        "incident rollups refreshed: %s, %d rows in %.3f s",
        "full rebuild" if rebuild else f"{len(days)} day(s)",
        rows,
        state.last_seconds,
    )
    return RefreshResult(full=rebuild, days=frozenset(days), rows=rows, seconds=state.last_seconds)


def rebuild_rollups() -> RefreshResult:
    """Rebuild every day from scratch (e.g. after a bulk data fix that bypassed updated_at)."""
    return refresh_rollups(full=True)


def prepare(*, now: datetime) -> None:
    """The metrics' shared ``prepare``: one rollup refresh per computation cycle."""
    refresh_rollups(now=now)


def _mark_deleted_incident(sender: type[Incident], instance: Incident, **kwargs: Any) -> None:
    """Deleting an incident leaves no updated_at behind: mark its trigger day for the next refresh."""
    day = instance.triggered_at.astimezone(UTC).date()
    IncidentRollupDirtyDay.objects.bulk_create([IncidentRollupDirtyDay(day=day)], ignore_conflicts=True)


# --- Windows and scopes ----------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The closed interval [end - length, end], split into whole UTC days and two partial edges."""

    key: str
    start: datetime
    end: datetime

    @classmethod
    def ending(cls, key: str, now: datetime) -> Window:
        end = now.astimezone(UTC)
        return cls(key=key, start=end - WINDOWS[key], end=end)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def full_days(self) -> tuple[date, date] | None:
        """The whole UTC days inside the window, as [first, stop) — None when there is none."""
        first = self.start.date() if self.start == _midnight(self.start.date()) else self.start.date() + timedelta(1)
        stop = self.end.date()
        return (first, stop) if first < stop else None

    def edge_condition(self, column: str) -> tuple[str, list[Any]]:
        """SQL (and parameters) selecting rows whose `column` falls in the window outside its whole days."""
        days = self.full_days
        if days is None:
            return f"({column} >= %s AND {column} <= %s)", [_ts(self.start), _ts(self.end)]
        first, stop = days
        return (
            f"(({column} >= %s AND {column} < %s) OR ({column} >= %s AND {column} <= %s))",
            [_ts(self.start), _ts(_midnight(first)), _ts(_midnight(stop)), _ts(self.end)],
        )

    def display(self) -> str:
        days = WINDOWS[self.key].days
        return f"> {days} day" if days == 1 else f"> {days} days"


@dataclass(frozen=True)
class _Scopes:
    """Every service and team scope, and which scopes a (service, severity) cell adds to."""

    service: dict[int, str]  # service id -> "service:<slug>"
    team_of_service: dict[int, str]  # service id -> "team:<slug>" of its owner
    team: dict[int, str]  # team id -> "team:<slug>"

    @classmethod
    def load(cls) -> _Scopes:
        rows = list(Service.objects.order_by("slug").values_list("pk", "slug", "owner_team_id", "owner_team__slug"))
        return cls(
            service={pk: f"service:{slug}" for pk, slug, _, _ in rows},
            team_of_service={pk: f"team:{team}" for pk, _, _, team in rows},
            team={team_id: f"team:{team}" for _, _, team_id, team in rows},
        )

    def of_cell(self, service_id: int, severity: str) -> tuple[str, ...]:
        return (self.service[service_id], self.team_of_service[service_id], f"severity:{severity}", GLOBAL)

    def of_key(self, kind: int, key: int, severity: str) -> str | None:
        """The scope of a row of :func:`_scoped_sql` (None for a service or team created meanwhile)."""
        if kind == _SERVICE:
            return self.service.get(key)
        if kind == _TEAM:
            return self.team.get(key)
        return f"severity:{severity}" if kind == _SEVERITY else GLOBAL

    def all(self, severities: Iterable[str]) -> list[str]:
        return [
            GLOBAL,
            *(f"severity:{key}" for key in sorted(severities)),
            *sorted(set(self.team.values())),
            *self.service.values(),
        ]


@dataclass
class _Sums:
    triggered: int = 0
    acknowledged: int = 0
    ack_seconds: float = 0.0
    resolved: int = 0
    resolve_seconds: float = 0.0

    def add(self, triggered: int, acknowledged: int, ack_seconds: float, resolved: int, resolve_seconds: float) -> None:
        self.triggered += int(triggered)
        self.acknowledged += int(acknowledged)
        self.ack_seconds += float(ack_seconds)
        self.resolved += int(resolved)
        self.resolve_seconds += float(resolve_seconds)


Basis = Literal["triggered", "resolved"]


def _cells(window: Window, basis: Basis) -> dict[tuple[int, str], _Sums]:
    """Sums per (service, severity) of the incidents triggered (or resolved) in the window: two queries.

    Whole days come from the rollups, the partial days at the edges from the incident rows,
    through the same sums (:func:`_sums_sql`).
    """
    cells: dict[tuple[int, str], _Sums] = defaultdict(_Sums)
    days = window.full_days
    if days is not None:
        first, stop = days
        day_filter = (
            Q(trigger_day__gte=first, trigger_day__lt=stop)
            if basis == "triggered"
            else Q(resolve_day__gte=first, resolve_day__lt=stop)
        )
        if not get_policy().maintenance.maintenance_alerts_count_in_metrics:
            day_filter &= Q(during_maintenance=False)
        rollups = (
            IncidentDayRollup.objects.filter(day_filter)
            .values_list("service_id", "severity")
            .annotate(
                Sum("triggered"), Sum("acknowledged"), Sum("ack_seconds"), Sum("resolved"), Sum("resolve_seconds")
            )
            .order_by()
        )
        for service_id, severity, *sums in rollups:
            cells[service_id, severity].add(*sums)
    column = "i.triggered_at" if basis == "triggered" else "i.resolved_at"
    condition, params = window.edge_condition(column)
    counted, counted_params = _counted()
    sql = (
        f"SELECT i.service_id, i.severity, {_sums_sql()} FROM {_tables()['incident']} i "  # noqa: S608 - names from _meta, values bound
        f"WHERE {counted} AND {condition} GROUP BY i.service_id, i.severity"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*counted_params, *params])
        for service_id, severity, *sums in cursor.fetchall():
            cells[service_id, severity].add(*sums)
    return cells


def _by_scope(cells: dict[tuple[int, str], _Sums], scopes: _Scopes) -> dict[str, _Sums]:
    """Add the (service, severity) cells up into every scope they belong to (at most services x severities)."""
    totals: dict[str, _Sums] = defaultdict(_Sums)
    for (service_id, severity), sums in cells.items():
        if service_id not in scopes.service:
            continue  # a service created after the scopes were read; next cycle counts it
        for scope in scopes.of_cell(service_id, severity):
            totals[scope].add(sums.triggered, sums.acknowledged, sums.ack_seconds, sums.resolved, sums.resolve_seconds)
    return totals


# Scope kinds in the window queries: rows are partitioned by (kind, key, severity) integers and
# text, not by scope strings, which sort several times faster.
_SERVICE, _TEAM, _SEVERITY, _GLOBAL = 1, 2, 3, 4


def _window_rows_sql(columns: str, where: str) -> str:
    """CTE ``v``: the window's incident rows with their service, owner team and severity."""
    tables = _tables()
    return (
        "WITH v AS ("  # noqa: S608 - names from _meta, values bound
        f" SELECT i.service_id AS sid, s.owner_team_id AS tid, i.severity AS sev, {columns}"
        f" FROM {tables['incident']} i JOIN {tables['service']} s ON s.id = i.service_id"
        f" WHERE {where})"
    )


def _scoped_sql(columns: str) -> str:
    """The rows of CTE ``v`` projected once per scope they belong to, as (kind, key, sev, columns...)."""
    # PostgreSQL would otherwise compare the severity text with the database's (slow) collation.
    collate = ' COLLATE "C"' if connection.vendor == "postgresql" else ""
    return (
        f"SELECT {_SERVICE} AS kind, v.sid AS key, ''{collate} AS sev, {columns} FROM v "  # noqa: S608
        f"UNION ALL SELECT {_TEAM}, v.tid, '', {columns} FROM v "
        f"UNION ALL SELECT {_SEVERITY}, 0, v.sev, {columns} FROM v "
        f"UNION ALL SELECT {_GLOBAL}, 0, '', {columns} FROM v"
    )


def _rank(n: int, numerator: int, denominator: int) -> tuple[int, int, float]:
    """Ranks around position (n - 1)·p, p = numerator/denominator, and the fraction between them."""
    position = (n - 1) * numerator
    low, remainder = divmod(position, denominator)
    return low, -(-position // denominator), remainder / denominator


def _rank_sql(numerator: int, denominator: int) -> tuple[str, str]:
    """The same ranks as :func:`_rank` in SQL (integer division rounds down for the non-negative values here)."""
    return (
        f"((r.n - 1) * {numerator}) / {denominator}",
        f"((r.n - 1) * {numerator} + {denominator - 1}) / {denominator}",
    )


def _percentiles(window: Window, basis: Basis, scopes: _Scopes) -> dict[str, tuple[int, dict[str, float | None]]]:
    """Exact percentiles per scope of the acknowledge (or resolve) durations in the window: one query.

    Returns scope -> (n, {"p50": ..., "p90": ...}), linear interpolation between closest ranks.
    PostgreSQL computes them with its own ``percentile_cont`` over grouping sets (the
    definition itself, and about five times faster than ranking with window functions);
    SQLite, which has neither, ranks the rows with ROW_NUMBER and this module
    interpolates between the two values around (n - 1)·p. The tests hold both to a
    plain-Python reading of the definition.
    """
    counted, params = _counted()
    if basis == "triggered":
        value = f"{_epoch('i.acknowledged_at')} - {_epoch('i.triggered_at')}"
        where = f"{counted} AND i.triggered_at >= %s AND i.triggered_at <= %s AND i.acknowledged_at IS NOT NULL"
    else:
        value = f"{_epoch('i.resolved_at')} - {_epoch('i.triggered_at')}"
        where = f"{counted} AND i.resolved_at >= %s AND i.resolved_at <= %s"
    params += [_ts(window.start), _ts(window.end)]
    if connection.vendor == "postgresql":
        return _percentiles_postgresql(_window_rows_sql(f"{value} AS x", where), params, scopes)
    picks = []
    for numerator, denominator in PERCENTILES.values():
        low, high = _rank_sql(numerator, denominator)
        picks.append(f"MAX(CASE WHEN r.k = {low} THEN r.x END), MAX(CASE WHEN r.k = {high} THEN r.x END)")
    sql = (
        f"{_window_rows_sql(f'{value} AS x', where)}, scoped AS ({_scoped_sql('v.x')}), r AS ("  # noqa: S608 - fragments of this module, values bound
        " SELECT kind, key, sev, x, ROW_NUMBER() OVER (PARTITION BY kind, key, sev ORDER BY x) - 1 AS k,"
        " COUNT(*) OVER (PARTITION BY kind, key, sev) AS n FROM scoped"
        f") SELECT r.kind, r.key, r.sev, r.n, {', '.join(picks)} FROM r GROUP BY r.kind, r.key, r.sev, r.n"
    )
    result: dict[str, tuple[int, dict[str, float | None]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for kind, key, severity, n, *values in cursor.fetchall():
            scope = scopes.of_key(kind, key, severity)
            if scope is None:
                continue
            figures: dict[str, float | None] = {}
            for index, (name, (numerator, denominator)) in enumerate(PERCENTILES.items()):
                low_value, high_value = float(values[2 * index]), float(values[2 * index + 1])
                fraction = _rank(int(n), numerator, denominator)[2]
                figures[name] = low_value + fraction * (high_value - low_value)
            result[scope] = (int(n), figures)
    return result


def _percentiles_postgresql(
    rows_sql: str, params: list[Any], scopes: _Scopes
) -> dict[str, tuple[int, dict[str, float | None]]]:
    fractions = ", ".join(f"{numerator}.0 / {denominator}" for numerator, denominator in PERCENTILES.values())
    sql = (
        f"{rows_sql} SELECT GROUPING(v.sid, v.tid, v.sev), v.sid, v.tid, v.sev, COUNT(*),"  # noqa: S608 - fragments of this module, values bound
        f" percentile_cont(ARRAY[{fractions}]) WITHIN GROUP (ORDER BY v.x)"
        " FROM v GROUP BY GROUPING SETS ((v.sid), (v.tid), (v.sev), ())"
    )
    # GROUPING() sets a bit per column left out of the row's grouping set (sid = 4, tid = 2, sev = 1).
    kinds = {0b011: _SERVICE, 0b101: _TEAM, 0b110: _SEVERITY, 0b111: _GLOBAL}
    result: dict[str, tuple[int, dict[str, float | None]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for grouping, service_id, team_id, severity, n, values in cursor.fetchall():
            if not n:
                continue  # the grand total of an empty window: one row, count 0, no percentiles
            kind = kinds[grouping]
            scope = scopes.of_key(kind, team_id if kind == _TEAM else service_id, severity)
            if scope is not None:
                result[scope] = (int(n), {name: float(v) for name, v in zip(PERCENTILES, values, strict=True)})
    return result


def _downtime(window: Window, severities: Sequence[str], scopes: _Scopes) -> dict[str, float]:
    """Seconds of the union of failure outages clipped to the window, per scope: one query.

    Sorted by start, each interval adds the part of it that reaches beyond every
    earlier interval of its scope (the running maximum of their ends): the length
    of the union, with one window function.
    """
    if not severities:
        return {}
    start, end = window.start.timestamp(), window.end.timestamp()
    begin_epoch, resolve_epoch = _epoch("i.triggered_at"), _epoch("i.resolved_at")
    columns = (
        f"CASE WHEN {begin_epoch} > %s THEN {begin_epoch} ELSE %s END AS b,"
        f" CASE WHEN i.resolved_at IS NOT NULL AND {resolve_epoch} < %s THEN {resolve_epoch} ELSE %s END AS e"
    )
    counted, counted_params = _counted()
    where = (
        f"i.severity IN ({_placeholders(severities)}) AND {counted} AND i.triggered_at < %s"
        f" AND (i.resolved_at > %s OR i.status IN ({_placeholders(_OPEN)}))"
    )
    sql = (
        f"{_window_rows_sql(columns, where)}, scoped AS ({_scoped_sql('v.b, v.e')}), reach AS ("  # noqa: S608 - fragments of this module, values bound
        " SELECT kind, key, sev, b, e, MAX(e) OVER (PARTITION BY kind, key, sev ORDER BY b, e"
        " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reached FROM scoped"
        ") SELECT kind, key, sev, SUM(CASE WHEN reached IS NULL OR reached <= b THEN e - b"
        " WHEN e > reached THEN e - reached ELSE 0 END) FROM reach GROUP BY kind, key, sev"
    )
    params: list[Any] = [start, start, end, end, *severities, *counted_params]
    params += [_ts(window.end), _ts(window.start), *_OPEN]
    result: dict[str, float] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for kind, key, severity, seconds in cursor.fetchall():
            scope = scopes.of_key(kind, key, severity)
            if scope is not None:
                result[scope] = max(float(seconds), 0.0)
    return result


# --- The three metrics ---------------------------------------------------------------------


def _severities_seen(cells: dict[tuple[int, str], _Sums]) -> set[str]:
    return set(get_policy().incidents.severities) | {severity for _, severity in cells}


def compute_mtta(*, window: str, now: datetime) -> list[MetricValue]:
    """MTTA per scope over the window ending at `now` (definition in the module docstring). Four queries."""
    span = Window.ending(window, now)
    scopes = _Scopes.load()
    cells = _cells(span, "triggered")
    totals = _by_scope(cells, scopes)
    percentiles = _percentiles(span, "triggered", scopes)
    values = []
    for scope in scopes.all(_severities_seen(cells)):
        sums = totals.get(scope, _Sums())
        _, figures = percentiles.get(scope, (0, dict.fromkeys(PERCENTILES)))
        values.append(
            MetricValue(
                scope=scope,
                value=sums.ack_seconds / sums.acknowledged if sums.acknowledged else None,
                sample_size=sums.acknowledged,
                details={
                    **figures,
                    "triggered": sums.triggered,
                    "unacknowledged": sums.triggered - sums.acknowledged,
                },
            )
        )
    return values


def compute_mttr(*, window: str, now: datetime) -> list[MetricValue]:
    """MTTR per scope over the window ending at `now` (definition in the module docstring). Four queries."""
    span = Window.ending(window, now)
    scopes = _Scopes.load()
    cells = _cells(span, "resolved")
    totals = _by_scope(cells, scopes)
    percentiles = _percentiles(span, "resolved", scopes)
    values = []
    for scope in scopes.all(_severities_seen(cells)):
        sums = totals.get(scope, _Sums())
        _, figures = percentiles.get(scope, (0, dict.fromkeys(PERCENTILES)))
        values.append(
            MetricValue(
                scope=scope,
                value=sums.resolve_seconds / sums.resolved if sums.resolved else None,
                sample_size=sums.resolved,
                details=dict(figures),
            )
        )
    return values


def compute_mtbf(*, window: str, now: datetime) -> list[MetricValue]:
    """MTBF per scope over the window ending at `now` (definition in the module docstring). Four queries."""
    span = Window.ending(window, now)
    failure_severities = list(get_policy().incidents.failure_severities)
    scopes = _Scopes.load()
    cells = _cells(span, "triggered")
    failures = _by_scope(
        {cell: sums for cell, sums in cells.items() if cell[1] in failure_severities},
        scopes,
    )
    downtime = _downtime(span, failure_severities, scopes)
    values = []
    for scope in scopes.all(failure_severities):
        count = failures[scope].triggered if scope in failures else 0
        down = min(downtime.get(scope, 0.0), span.seconds)
        details: dict[str, Any] = {
            "failures": count,
            "downtime_seconds": down,
            "window_seconds": span.seconds,
            "no_failures": count == 0,
        }
        if count == 0:
            details["display"] = span.display()
        values.append(
            MetricValue(
                scope=scope,
                value=(span.seconds - down) / count if count else None,
                sample_size=count,
                details=details,
            )
        )
    return values


def _target(name: Literal["mtta", "mttr", "mtbf"]) -> Any:
    def target() -> float:
        return float(getattr(get_policy().targets, name).approximate().total_seconds())

    target.__name__ = f"{name}_target"
    return target


MTTA = MetricDefinition(
    key="mtta",
    title="Mean time to acknowledge",
    unit="seconds",
    comparison="<",
    target=_target("mtta"),
    compute=compute_mtta,
    prepare=prepare,
    description="Mean of (acknowledged - triggered) over incidents triggered in the window and acknowledged; "
    "p50/p90 beside it, unacknowledged ones counted apart. Cancelled incidents excluded.",
)
MTTR = MetricDefinition(
    key="mttr",
    title="Mean time to resolve",
    unit="seconds",
    comparison="<",
    target=_target("mttr"),
    compute=compute_mttr,
    prepare=prepare,
    description="Mean of (resolved - triggered) over incidents resolved in the window; p50/p90 beside it. "
    "Cancelled incidents excluded.",
)
MTBF = MetricDefinition(
    key="mtbf",
    title="Mean time between failures",
    unit="seconds",
    comparison=">",
    target=_target("mtbf"),
    compute=compute_mtbf,
    prepare=prepare,
    description="(Window - merged downtime of failure-severity incidents) ÷ failures triggered in the window; "
    '"> window" when there was no failure. Cancelled incidents excluded.',
)

DEFINITIONS: tuple[MetricDefinition, ...] = (MTTA, MTTR, MTBF)

_DELETE_RECEIVER_UID = "incidents.metrics.mark_deleted_incident"


# Registered when opsgov discovers this module (opsgov.apps): MTTA, MTTR, MTBF, then the review backlog's
# closing rate (the scorecard lists metrics in this order); and the receiver that marks a deleted
# incident's day for the next refresh.
for _definition in (*DEFINITIONS, CLOSING_RATE):
    metrics.register(_definition)
post_delete.connect(_mark_deleted_incident, sender=Incident, dispatch_uid=_DELETE_RECEIVER_UID)
