"""Core Celery tasks, called as functions (the worker path is covered in tests/integration)."""

from __future__ import annotations

import pytest

from opsgov import tasks
from opsgov.models import GateEvaluation, WorkerHeartbeat
from opsgov.registry import gates

pytestmark = pytest.mark.django_db


def test_the_heartbeat_counts_beats_per_name() -> None:
    assert tasks.record_heartbeat("worker-a") == 1
    assert tasks.record_heartbeat("worker-a") == 2
    assert tasks.record_heartbeat("worker-b") == 1
    assert WorkerHeartbeat.objects.get(name="worker-a").beats == 2


def test_evaluating_gates_stores_one_evaluation_per_registered_gate() -> None:
    assert tasks.evaluate_gates() == len(gates.all())
    assert set(GateEvaluation.objects.values_list("gate", flat=True)) == {gate.key for gate in gates.all()}


def test_the_beat_schedule_names_real_tasks() -> None:
    from django.conf import settings

    from opsgov.celery import app

    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks, entry["task"]


def test_computing_twice_keeps_one_current_snapshot_per_key_and_history() -> None:
    from datetime import UTC, datetime

    from opsgov import services
    from opsgov.models import MetricSnapshot
    from opsgov.registry import MetricDefinition, MetricValue, metrics

    calls = iter([10.0, 20.0])
    metric = MetricDefinition(
        key="demo_metric",
        title="Demo",
        unit="ratio",
        comparison=">",
        target=lambda: 0.0,
        compute=lambda **_: (
            [MetricValue(scope="global", value=next(calls), sample_size=1)] if _["window"] == "7d" else []
        ),
    )
    metrics.register(metric)
    try:
        services.compute_metrics(keys=["demo_metric"], now=datetime(2026, 11, 1, tzinfo=UTC))
        services.compute_metrics(keys=["demo_metric"], now=datetime(2026, 11, 2, tzinfo=UTC))
    finally:
        metrics.unregister("demo_metric")
    rows = MetricSnapshot.objects.filter(metric="demo_metric").order_by("computed_at")
    assert [(row.value, row.is_current) for row in rows] == [(10.0, False), (20.0, True)]


def test_pruning_keeps_two_days_in_full_and_one_snapshot_per_day_before() -> None:
    from datetime import UTC, datetime, timedelta

    from opsgov import services
    from opsgov.models import MetricSnapshot

    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def snap(at: datetime, current: bool = False) -> MetricSnapshot:
        return MetricSnapshot.objects.create(
            metric="mtta", scope="global", window="30d", value=1.0, computed_at=at, is_current=current
        )

    old_day = [snap(datetime(2026, 11, 20, hour, tzinfo=UTC)) for hour in (1, 8, 23)]
    recent = [snap(now - timedelta(hours=hours)) for hours in (47, 30, 1)]
    current = snap(now, current=True)
    assert services.prune_snapshots(now=now) == 2
    remaining = set(MetricSnapshot.objects.values_list("pk", flat=True))
    assert remaining == {old_day[-1].pk, *(row.pk for row in recent), current.pk}
