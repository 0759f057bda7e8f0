"""Celery tasks of the core app: thin wrappers around services.

Celery's autodiscovery and opsgov.apps import only ``<app>.tasks``: this module imports the tasks
modules of core's sub-packages so that they are registered wherever core's are.
"""

from . import services
from .celery_tasks import opsgov_task
from .gates import services as gate_services
from .gates import tasks as gate_tasks  # noqa: F401  (registers the gate engine's tasks)
from .reports import tasks as report_tasks  # noqa: F401  (registers the scheduled report task)


@opsgov_task("opsgov.tasks.record_heartbeat", time_limit=30, soft_time_limit=20)
def record_heartbeat(name: str = "worker") -> int:
    return services.record_heartbeat(name=name).beats


@opsgov_task("opsgov.tasks.evaluate_gates", time_limit=120, soft_time_limit=100)
def evaluate_gates() -> int:
    return len(gate_services.evaluate_gates())


@opsgov_task("opsgov.tasks.compute_metrics", time_limit=600, soft_time_limit=540)
def compute_metrics() -> int:
    return len(services.compute_metrics())


@opsgov_task("opsgov.tasks.prune_snapshots", time_limit=600, soft_time_limit=540)
def prune_snapshots() -> int:
    return services.prune_snapshots()
