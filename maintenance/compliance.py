"""Patch compliance, incrementally: a per-asset, per-day rollup kept up to date by every write of obligations.

The definition is maintenance.selectors' (its docstring): over [start, end), an obligation counts when it is
due in the window, or met in time in it; met in time = ``met_at <= due_at``; an obligation under a valid
exception at `end` is counted apart.

The rollup (:class:`~maintenance.models.PatchComplianceRollup`) holds, per (asset, service, due day, met day),
how many obligations fall due on that UTC day and were met in time on the other (``NOT_MET_IN_TIME`` when
they were not, or not yet). Writes keep it exact in the same transaction:

- a new obligation adds one at (due day, NOT_MET_IN_TIME) — :func:`record_new`;
- an obligation met in time moves from there to (due day, met day); met late it stays — :func:`record_met`.

A window is then read as its whole UTC days from the rollup (a row counts when its due day or its met day is
one of them) plus, at its two partial days, the obligations due or met in time in those parts that the whole
days did not count (two index range scans), minus those under a valid exception (few; one query). The cost
follows assets and days, not obligations: a cycle after 100 new reports reads the same rows as before them.

Anything that writes obligations without these functions (a bulk import, a deleted host or service) leaves the
rollup behind: :func:`rebuild` recomputes it from the obligations in one statement.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum

from opsgov.models import Service

from .models import NOT_MET_IN_TIME, PatchComplianceRollup, PatchObligation

Key = tuple[str, int, date, date]


@dataclass(frozen=True)
class Compliance:
    scope: str
    met: int
    counted: int
    excepted: int

    @property
    def percent(self) -> float | None:
        return None if self.counted == 0 else self.met * 100 / self.counted


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _apply(deltas: Counter[Key]) -> None:
    """Add `deltas` to the rollup rows (created as needed): one statement per 1,000 rows."""
    items = [(key, n) for key, n in deltas.items() if n]
    if not items:
        return
    table = PatchComplianceRollup._meta.db_table
    for offset in range(0, len(items), 1000):
        chunk = items[offset : offset + 1000]
        values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(chunk))
        params: list[str | int | date] = []
        for (asset, service_id, due_day, met_day), n in chunk:
            params += [asset, service_id, due_day, met_day, n]
        sql = (
            f"INSERT INTO {table} (asset, service_id, due_day, met_day, obligations) VALUES {values} "  # noqa: S608 - names from _meta, values bound
            "ON CONFLICT (asset, service_id, due_day, met_day) "
            f"DO UPDATE SET obligations = {table}.obligations + EXCLUDED.obligations"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def record_new(obligations: Iterable[PatchObligation]) -> None:
    """New obligations (not met yet): one each at their due day."""
    deltas: Counter[Key] = Counter()
    for o in obligations:
        deltas[(o.asset, o.service_id or 0, _day(o.due_at), NOT_MET_IN_TIME)] += 1
    _apply(deltas)


def record_met(met: Iterable[tuple[str, int | None, datetime, datetime]]) -> None:
    """Obligations just met, as (asset, service id, due_at, met_at): those met in time move to their met day."""
    deltas: Counter[Key] = Counter()
    for asset, service_id, due_at, met_at in met:
        if met_at <= due_at:
            due_day = _day(due_at)
            deltas[(asset, service_id or 0, due_day, NOT_MET_IN_TIME)] -= 1
            deltas[(asset, service_id or 0, due_day, _day(met_at))] += 1
    _apply(deltas)


def met_rows(queryset: object, met_at: datetime) -> list[tuple[str, int | None, datetime, datetime]]:
    """(asset, service id, due_at, met_at) of the open obligations of `queryset` about to be met at `met_at`."""
    rows = queryset.filter(met_at__isnull=True).values_list("asset", "service_id", "due_at")  # type: ignore[attr-defined]
    return [(asset, service_id, due_at, met_at) for asset, service_id, due_at in rows]


@transaction.atomic
def rebuild() -> int:
    """Recompute the rollup from the obligations (after bulk writes); returns its row count."""
    table = PatchComplianceRollup._meta.db_table
    obligations = PatchObligation._meta.db_table

    def day(column: str) -> str:
        return f"({column} AT TIME ZONE 'UTC')::date" if connection.vendor == "postgresql" else f"date({column})"

    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - a name from _meta
        cursor.execute(
            f"INSERT INTO {table} (asset, service_id, due_day, met_day, obligations) "  # noqa: S608 - names from _meta, values bound
            f"SELECT asset, COALESCE(service_id, 0), {day('due_at')}, "
            f"CASE WHEN met_at IS NOT NULL AND met_at <= due_at THEN {day('met_at')} ELSE %s END, "
            f"COUNT(*) FROM {obligations} GROUP BY 1, 2, 3, 4",
            [NOT_MET_IN_TIME],
        )
        return max(cursor.rowcount, 0)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def patch_compliance(*, start: datetime, end: datetime) -> list[Compliance]:
    """Patch compliance per asset, per service and globally over [start, end) (see the module docstring)."""
    first_full = _day(start) if _midnight(_day(start)) == start else _day(start) + timedelta(days=1)
    last_full = _day(end)  # exclusive: the day `end` falls in is partial (or starts at `end`)
    sums: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0])  # met, counted, excepted

    if first_full < last_full:
        in_days = Q(due_day__gte=first_full, due_day__lt=last_full) | Q(met_day__gte=first_full, met_day__lt=last_full)
        for row in (
            PatchComplianceRollup.objects.filter(in_days)
            .values("asset", "service_id")
            .annotate(counted=Sum("obligations"), met=Sum("obligations", filter=~Q(met_day=NOT_MET_IN_TIME)))
            .order_by()
        ):
            cell = sums[(row["asset"], row["service_id"])]
            cell[0] += row["met"] or 0
            cell[1] += row["counted"] or 0
        full_start, full_end = _midnight(first_full), _midnight(last_full)
        edges = [(start, full_start), (full_end, end)]
        in_full = Q(due_at__gte=full_start, due_at__lt=full_end) | Q(
            met_at__gte=full_start, met_at__lt=full_end, met_at__lte=F("due_at")
        )
    else:
        edges = [(start, end)]
        in_full = Q(pk__in=[])
    in_time = Q(met_at__isnull=False, met_at__lte=F("due_at"))
    at_edges = Q(pk__in=[])
    for lo, hi in edges:
        if lo < hi:
            at_edges |= Q(due_at__gte=lo, due_at__lt=hi) | Q(met_at__gte=lo, met_at__lt=hi, met_at__lte=F("due_at"))
    for row in (
        PatchObligation.objects.filter(at_edges)
        .exclude(in_full)
        .values("asset", "service_id")
        .annotate(counted=Count("id"), met=Count("id", filter=in_time))
        .order_by()
    ):
        cell = sums[(row["asset"], row["service_id"] or 0)]
        cell[0] += row["met"]
        cell[1] += row["counted"]
    counted_in_window = Q(due_at__gte=start, due_at__lt=end) | Q(
        met_at__gte=start, met_at__lt=end, met_at__lte=F("due_at")
    )
    for row in (
        PatchObligation.objects.filter(exception_until__gt=end)
        .filter(counted_in_window)
        .values("asset", "service_id")
        .annotate(counted=Count("id"), met=Count("id", filter=in_time))
        .order_by()
    ):
        cell = sums[(row["asset"], row["service_id"] or 0)]
        cell[0] -= row["met"]
        cell[1] -= row["counted"]
        cell[2] += row["counted"]

    slugs = dict(Service.objects.filter(pk__in={sid for _, sid in sums if sid}).values_list("pk", "slug"))
    overall = [0, 0, 0]
    by_service: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    by_asset: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (asset, service_id), cell in sums.items():
        if cell == [0, 0, 0]:
            continue
        for target in (overall, by_asset[asset], *([by_service[slugs[service_id]]] if service_id in slugs else [])):
            for i in range(3):
                target[i] += cell[i]
    found = [Compliance("global", *overall)]
    found += [Compliance(f"service:{slug}", *by_service[slug]) for slug in sorted(by_service)]
    found += [Compliance(asset, *by_asset[asset]) for asset in sorted(by_asset)]
    return found
