"""Writes of the core app. Every function is one transaction and validates before saving."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .errors import DomainError
from .models import GateEvaluation, MetricSnapshot, Service, Team, WorkerHeartbeat
from .registry import WINDOWS, gates, metrics

TEAM_FIELDS = ("slug", "name", "description", "email")
SERVICE_FIELDS = ("slug", "name", "tier", "owner_team", "lifecycle", "description", "links")


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


@transaction.atomic
def evaluate_gates(*, now: datetime | None = None, keys: list[str] | None = None) -> list[GateEvaluation]:
    """Run the registered gates (all, or those named) and store one evaluation each."""
    now = now or timezone.now()
    evaluations = []
    for gate in gates.all():
        if keys is not None and gate.key not in keys:
            continue
        result = gate.evaluate(now=now)
        evaluations.append(
            GateEvaluation(
                gate=gate.key,
                status=result.status,
                reason=result.reason[:500],
                evidence=[row.as_json() for row in result.evidence],
                evaluated_at=now,
            )
        )
    return GateEvaluation.objects.bulk_create(evaluations)


def compute_metrics(*, now: datetime | None = None, keys: list[str] | None = None) -> list[MetricSnapshot]:
    """Compute the registered metrics (all, or those named) over every window into snapshots.

    Each metric is one transaction: a failing metric does not discard the others' figures.
    """
    now = now or timezone.now()
    stored: list[MetricSnapshot] = []
    prepared: set[object] = set()  # metrics of one app often share one preparation
    for metric in metrics.all():
        if keys is not None and metric.key not in keys:
            continue
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
                )
                for window in WINDOWS
                for value in metric.compute(window=window, now=now)
            ]
            stored.extend(MetricSnapshot.objects.bulk_create(rows))
    return stored
