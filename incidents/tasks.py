"""Celery tasks of incidents: thin wrappers around incidents.ingest.services.

- `process_raw_event(event_id)`: applies a stored RawEvent (and any earlier
  unprocessed one of the same key) to incidents. Idempotent, so acks_late and
  redelivery are safe; retried with backoff only for database errors of the
  OperationalError kind (lost connection, deadlock, "database is locked").
- `process_raw_events(event_ids)`: the same for a batch of events, one after
  the other (each in its own transaction); what the enqueue buffer publishes.
- `sweep_raw_events()`: the safety net for broker outages and lost buffers;
  beat runs it every 30 s ("sweep-raw-events" in CELERY_BEAT_SCHEDULE).

Web requests, replays and internal alerts enqueue processing by the task names
(incidents.ingest.enqueue); the escalation and notification tasks are in
incidents.oncall.tasks, the dead letters' in incidents.ingest.tasks.
"""

from __future__ import annotations

import logging

from opsgov.celery_tasks import opsgov_task
from opsgov.publishing import publish_each

from .ingest import services as ingestion
from .ingest import tasks as dead_letter_tasks  # also registers the dead-letter task
from .ingest.enqueue import PROCESSING_OF_EVENT, SWEEPER_RETRIES
from .oncall import tasks as oncall_tasks  # noqa: F401  (registers the escalation and notification tasks)

logger = logging.getLogger(__name__)


@opsgov_task(
    "incidents.tasks.process_raw_event",
    time_limit=60,
    soft_time_limit=45,
    retry_db_errors=True,
    max_retries=5,
    retry_backoff_max=60,
)
def process_raw_event(event_id: int) -> int:
    """Apply RawEvent `event_id` (and earlier unprocessed events of its key); returns how many were applied."""
    return _notified(ingestion.process_raw_event(event_id=event_id)).applied


@opsgov_task(
    "incidents.tasks.process_raw_events",
    time_limit=120,
    soft_time_limit=100,
    retry_db_errors=True,
    max_retries=5,
    retry_backoff_max=60,
)
def process_raw_events(event_ids: list[int]) -> int:
    """Apply each RawEvent of `event_ids` as process_raw_event does; returns how many events were applied.

    A retry or a redelivery runs the whole batch again: the events already
    processed are skipped (ingestion.process_raw_event is idempotent).
    """
    return sum(_notified(ingestion.process_raw_event(event_id=event_id)).applied for event_id in event_ids)


def _notified(result: ingestion.ProcessResult) -> ingestion.ProcessResult:
    """Have the owners told at once when processing dead-lettered an event (incidents.ingest.dead_letters)."""
    if result.dead_lettered:
        dead_letter_tasks.enqueue_notify()
    return result


@opsgov_task("incidents.tasks.sweep_raw_events", time_limit=60, soft_time_limit=45)
def sweep_raw_events() -> int:
    """Enqueue processing of events left unprocessed for SWEEP_AFTER; returns how many tasks were enqueued."""
    # When the broker is down, the claimed rest is tried again at a later sweep.
    return publish_each(
        process_raw_event,
        ingestion.claim_stale_raw_events(),
        logger=logger,
        what=PROCESSING_OF_EVENT,
        then=SWEEPER_RETRIES,
    )
