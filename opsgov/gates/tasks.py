"""Celery tasks of the gate engine: thin wrappers around opsgov.gates.services.

- `deliver_gate_notifications(evaluation_id)`: the emails of one status change,
  enqueued on commit by the evaluation that changed; each row is claimed before
  it is sent, so a redelivered task sends nothing twice.
- `retry_gate_notifications()`: the sweeper (beat, every minute): enqueues
  changes whose emails are due for a retry, or whose first enqueue was lost.
- `evaluate_gate(key)`: one gate now (what the gate page's button does when it
  does not run it in the request).

The engine enqueues deliveries by task name (services.enqueue_deliveries); it
never raises on a broker outage: the rows are in the database and the sweeper
picks them up.
"""

from __future__ import annotations

from ..celery_tasks import opsgov_task
from ..registry import gates
from . import services


@opsgov_task(services.DELIVERY_TASK, time_limit=120, soft_time_limit=100, retry_db_errors=True)
def deliver_gate_notifications(evaluation_id: int) -> dict[str, int]:
    """Send the due emails of one gate status change; returns how many ended in each status."""
    return services.deliver_for_evaluation(evaluation_id=evaluation_id)


@opsgov_task("opsgov.gate_tasks.retry_gate_notifications", time_limit=60, soft_time_limit=45)
def retry_gate_notifications() -> int:
    """Enqueue every status change with emails due for a (re)try; returns how many were enqueued."""
    return services.enqueue_deliveries(services.due_notification_evaluations())


@opsgov_task("opsgov.gate_tasks.evaluate_gate", time_limit=120, soft_time_limit=100)
def evaluate_gate(key: str) -> str | None:
    """Evaluate one gate now; returns its status (None for a key no longer registered)."""
    if key not in gates:
        return None
    return str(services.evaluate_gate(gate=gates.get(key)).status)
