"""Reads of the core app."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet, Subquery

from .models import GateEvaluation, MetricSnapshot, Service, Team
from .registry import Gate, gates


@dataclass(frozen=True)
class GateState:
    gate: Gate
    evaluation: GateEvaluation | None


def newest_gate_evaluations_filter(keys: list[str]) -> Q:
    """A filter for the newest evaluation of each gate named (one indexed subquery per gate); `keys` not empty.

    `id IN ((SELECT ...), (SELECT ...))`: PostgreSQL runs each scalar subquery
    once (an InitPlan on gate_eval_latest_idx) and fetches the rows by primary
    key, where OR-ed `id IN (subquery)` conditions made it filter every row of the history.
    """
    newest = [
        Subquery(GateEvaluation.objects.filter(gate=key).order_by("-evaluated_at", "-pk").values("pk")[:1])
        for key in keys
    ]
    return Q(pk__in=newest)


def latest_gate_evaluations(keys: list[str]) -> dict[str, GateEvaluation]:
    """The newest evaluation of each gate named, in one query whatever the history (see the filter above)."""
    if not keys:
        return {}
    return {row.gate: row for row in GateEvaluation.objects.filter(newest_gate_evaluations_filter(keys))}


def gate_states() -> list[GateState]:
    """Every registered gate, in seed order, with its newest stored evaluation (None if never run)."""
    registered = gates.all()
    latest = latest_gate_evaluations([gate.key for gate in registered])
    return [GateState(gate=gate, evaluation=latest.get(gate.key)) for gate in registered]


def team_list(*, with_service_count: bool = False) -> QuerySet[Team]:
    teams = Team.objects.all()
    if with_service_count:
        # An aggregate drops the model's default ordering; pagination needs one.
        teams = teams.annotate(service_count=Count("services")).order_by("name")
    return teams


def service_list() -> QuerySet[Service]:
    return Service.objects.select_related("owner_team")


def latest_snapshots() -> QuerySet[MetricSnapshot]:
    """The newest snapshot of each (metric, scope, window): the current rows, an index read."""
    return MetricSnapshot.objects.filter(is_current=True).order_by("metric", "scope", "window")
