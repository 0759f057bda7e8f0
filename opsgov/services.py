"""Writes of the core app. Every function is one transaction and validates before saving."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Max, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from .errors import DomainError
from .models import MetricSnapshot, MetricTrendPoint, Service, Team, WorkerHeartbeat
from .registry import WINDOWS, metrics
from .retention import RetentionResult, audit_removal, delete_in_batches

TEAM_FIELDS = ("slug", "name", "description", "email")
SERVICE_FIELDS = ("slug", "name", "tier", "owner_team", "lifecycle", "description", "links", "aliases")


def _apply(instance: Any, data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = set(data) - set(allowed)
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    for name, value in data.items():
        setattr(instance, name, value)


@transaction.atomic
def team_create(**data: Any) -> Team:
    team = Team()
    _apply(team, data, TEAM_FIELDS)
    team.full_clean()
    team.save()
    return team


@transaction.atomic
def team_update(*, team: Team, data: dict[str, Any]) -> Team:
    _apply(team, data, TEAM_FIELDS)
    team.full_clean()
    team.save()
    return team


@transaction.atomic
def service_create(**data: Any) -> Service:
    service = Service()
    _apply(service, data, SERVICE_FIELDS)
    service.full_clean()
    service.save()
    return service


@transaction.atomic
def service_update(*, service: Service, data: dict[str, Any]) -> Service:
    _apply(service, data, SERVICE_FIELDS)
    service.full_clean()
    service.save()
    return service


@transaction.atomic
def team_delete(*, team: Team) -> None:
    owned = list(team.services.values_list("slug", flat=True)[:5])
    if owned:
        raise DomainError(
            f"Team {team.slug!r} still owns services ({', '.join(owned)}); move them to another team first."
        )
    team.delete()


@transaction.atomic
def service_delete(*, service: Service) -> None:
    service.delete()


def record_heartbeat(*, name: str = "worker", now: datetime | None = None) -> WorkerHeartbeat:
    """Note that a worker is serving the queue (one row per name, counting beats)."""
    now = now or timezone.now()
    with transaction.atomic():
        updated = WorkerHeartbeat.objects.filter(name=name).update(beats=F("beats") + 1, last_seen_at=now)
        if not updated:
            WorkerHeartbeat.objects.get_or_create(name=name, defaults={"beats": 1, "last_seen_at": now})
    return WorkerHeartbeat.objects.get(name=name)


def compute_metrics(
    *,
    now: datetime | None = None,
    keys: list[str] | None = None,
    progress: Callable[[str, int, float], None] | None = None,
) -> list[MetricSnapshot]:
    """Compute the registered metrics (all, or those named) over every window into snapshots.

    All metrics of one call share one `now`. Each metric is one transaction
    (a failing metric does not discard the others' figures): its new rows
    become the current ones and the previous current rows turn into history.
    `progress(key, rows, seconds)` is called after each metric.
    """
    now = now or timezone.now()
    stored: list[MetricSnapshot] = []
    prepared: set[object] = set()  # metrics of one app often share one preparation
    for metric in metrics.all():
        if keys is not None and metric.key not in keys:
            continue
        started = time.monotonic()
        with transaction.atomic():
            if metric.prepare is not None and metric.prepare not in prepared:
                metric.prepare(now=now)
                prepared.add(metric.prepare)
            rows = [
                MetricSnapshot(
                    metric=metric.key,
                    scope=value.scope,
                    window=window,
                    value=value.value,
                    sample_size=value.sample_size,
                    details=value.details,
                    computed_at=now,
                    is_current=True,
                )
                for window in WINDOWS
                for value in metric.compute(window=window, now=now)
            ]
            MetricSnapshot.objects.filter(metric=metric.key, is_current=True).update(is_current=False)
            stored.extend(MetricSnapshot.objects.bulk_create(rows))
            record_trend(rows)
        if progress is not None:
            progress(metric.key, len(rows), time.monotonic() - started)
    return stored


def record_trend(snapshots: Iterable[MetricSnapshot]) -> int:
    """Make each snapshot its key's trend point of its UTC day (one upsert); returns the points written.

    Called by compute_metrics in the transaction that stores the snapshots; the
    day's last computation overwrites the earlier ones.
    """
    points = {
        (row.metric, row.scope, row.window, row.computed_at.astimezone(UTC).date()): MetricTrendPoint(
            metric=row.metric,
            scope=row.scope,
            window=row.window,
            day=row.computed_at.astimezone(UTC).date(),
            value=row.value,
            sample_size=row.sample_size,
            computed_at=row.computed_at,
        )
        for row in snapshots
    }
    MetricTrendPoint.objects.bulk_create(
        list(points.values()),
        update_conflicts=True,
        unique_fields=["metric", "scope", "window", "day"],
        update_fields=["value", "sample_size", "computed_at", "updated_at"],
        batch_size=1000,
    )
    return len(points)


# Snapshots younger than this are all kept; older ones are thinned to one per key and day.
SNAPSHOT_FULL_HISTORY = timedelta(hours=48)
# Daily trend points are kept this long (the dashboard draws 90 days).
TREND_KEPT = timedelta(days=400)


@transaction.atomic
def prune_snapshots(*, now: datetime | None = None) -> int:
    """Thin metric history: keep every snapshot of the last 48 hours, and before that the
    last one of each (metric, scope, window) per UTC day (enough for 90-day trends).
    Daily trend points older than TREND_KEPT go too. Returns the number of rows deleted.

    Snapshots are evidence (opsgov.evidence): the superseded ones go through the retention path
    and an audit row records how many (README, "Retention")."""
    moment = now or timezone.now()
    trend_deleted, _ = MetricTrendPoint.objects.filter(day__lt=(moment - TREND_KEPT).astimezone(UTC).date()).delete()
    cutoff = moment - SNAPSHOT_FULL_HISTORY
    old = MetricSnapshot.objects.filter(computed_at__lt=cutoff, is_current=False)
    keep = (
        old.annotate(day=TruncDate("computed_at", tzinfo=UTC))
        .values("metric", "scope", "window", "day")
        .annotate(last=Max("id"))
        .values("last")
    )
    reason = "metric history thinning (one snapshot per key and day after 48 hours)"
    deleted = delete_in_batches(old.exclude(id__in=Subquery(keep)), reason=reason, batch_size=5000)
    if deleted:
        result = RetentionResult(
            counts={"opsgov.MetricSnapshot": deleted}, cutoffs={"opsgov.MetricSnapshot": cutoff.isoformat()}
        )
        audit_removal(result=result, reason=reason)
    return deleted + trend_deleted
