"""Services publish their tasks by registered name (opsgov.publishing), never importing a tasks module:
each name they publish must be a task a worker knows."""

from __future__ import annotations

import pytest

from incidents.ingest import enqueue
from incidents.oncall import escalation, notifications
from opsgov.celery import app


@pytest.mark.parametrize(
    "name",
    [
        enqueue.PROCESS_TASK,
        enqueue.PROCESS_BATCH_TASK,
        escalation.ESCALATE_TASK,
        notifications.DELIVERY_TASK,
    ],
)
def test_a_task_published_by_name_is_one_a_worker_knows(name: str) -> None:
    app.loader.import_default_modules()  # what a worker imports: the apps' tasks modules
    assert name in app.tasks
