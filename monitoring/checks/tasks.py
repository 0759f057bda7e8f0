"""Celery tasks of the synthetic checks: thin wrappers around monitoring.checks.services.

Beat (CELERY_BEAT_SCHEDULE in settings):
- `enqueue_due_http_checks` every 15 s: claims the due runs and enqueues one
  `run_http_check` per run. A run that cannot be enqueued (broker down) is
  given back, so the next beat claims it again.
- `detect_late_heartbeats` every 30 s: takes late heartbeats down (once each).
- `prune_check_history` hourly: bounded result and ping history.

Registered through monitoring.tasks, which imports it (opsgov.apps discovers each app's tasks module).
"""

from __future__ import annotations

import logging
from datetime import datetime

from opsgov.celery_tasks import opsgov_task
from opsgov.publishing import publish

from . import services as checks

logger = logging.getLogger(__name__)


@opsgov_task("monitoring.check_tasks.enqueue_due_http_checks", time_limit=60, soft_time_limit=45)
def enqueue_due_http_checks() -> int:
    """Claim the due check runs and enqueue them; returns how many were enqueued."""
    enqueued = 0
    runs = checks.claim_due_http_checks()
    for index, run in enumerate(runs):
        if not publish(
            run_http_check,
            (run.check_id, run.scheduled_for.isoformat()),
            logger=logger,
            what="%d HTTP check runs",
            what_args=(len(runs) - index,),
            then="they are given back for the next beat",
        ):
            for unsent in runs[index:]:
                checks.release_http_check_run(unsent)
            break
        enqueued += 1
    return enqueued


@opsgov_task(
    "monitoring.check_tasks.run_http_check",
    # The longest check timeout is 60 s (HttpCheck.timeout_ms); the rest is database work.
    time_limit=90,
    soft_time_limit=75,
    retry_db_errors=True,
)
def run_http_check(check_id: int, scheduled_for: str) -> bool | None:
    """Run one claimed run; returns whether it succeeded (None when nothing was recorded)."""
    result = checks.run_http_check(check_id=check_id, scheduled_for=datetime.fromisoformat(scheduled_for))
    return None if result is None else result.ok


@opsgov_task(
    "monitoring.check_tasks.detect_late_heartbeats",
    time_limit=60,
    soft_time_limit=45,
    retry_db_errors=True,
    retry_backoff_max=600,  # Celery's default: this task never set one
)
def detect_late_heartbeats() -> int:
    return checks.detect_late_heartbeats()


@opsgov_task("monitoring.check_tasks.prune_check_history", time_limit=600, soft_time_limit=540)
def prune_check_history() -> dict[str, int]:
    return checks.prune_check_history()
