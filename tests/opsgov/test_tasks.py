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
