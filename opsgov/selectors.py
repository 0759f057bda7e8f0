"""Reads of the core app."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet, Subquery

from .models import GateEvaluation, MetricSnapshot, Service, Team
from .registry import Gate, gates


@dataclass(frozen=True)
class GateState:
    gate: Gate
    evaluation: GateEvaluation | None


def latest_gate_evaluations(keys: list[str]) -> dict[str, GateEvaluation]:
    """The newest evaluation of each gate named, in one query whatever the history.

    ``id IN ((newest id of gate a), (newest id of gate b), ...)``: each scalar subquery
    reads one entry of the (gate, -evaluated_at) index, then the rows are fetched by
    primary key. (An OR of ``id IN (subquery)`` conditions, by contrast, makes
    PostgreSQL scan every stored evaluation: 0.3 s at 200k rows.)
    """
    if not keys:
        return {}
    newest = [
        Subquery(GateEvaluation.objects.filter(gate=key).order_by("-evaluated_at").values("pk")[:1]) for key in keys
    ]
    return {row.gate: row for row in GateEvaluation.objects.filter(pk__in=newest)}


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
