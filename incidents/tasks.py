"""Celery tasks of incidents: thin wrappers around incidents.ingestion.

- `process_raw_event(event_id)`: applies a stored RawEvent (and any earlier
  unprocessed one of the same key) to incidents. Idempotent, so acks_late and
  redelivery are safe; retried with backoff only for database errors of the
  OperationalError kind (lost connection, deadlock, "database is locked").
- `sweep_raw_events()`: the safety net for broker outages; beat runs it every
  30 s ("sweep-raw-events" in CELERY_BEAT_SCHEDULE).
- `enqueue_process_raw_event(event_id)`: how web requests enqueue processing;
  never raises on a broker outage (the event is already stored).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

from . import ingestion

logger = logging.getLogger(__name__)

#: What publishing raises when the broker cannot be reached: kombu's OperationalError
#: (Celery re-raises transport connection errors as it) and OSError (ConnectionError,
#: TimeoutError, or the filesystem transport failing to write its message file).
BROKER_ERRORS: tuple[type[BaseException], ...] = (BrokerOperationalError, OSError)

#: One quick retry when publishing, not Celery's default of three: a web request
#: waits for this, and the sweeper covers what fails.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}

#: Database errors worth retrying: transient by nature.
RETRYABLE_DB_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    acks_late=True,
    time_limit=60,
    soft_time_limit=45,
    autoretry_for=RETRYABLE_DB_ERRORS,
    max_retries=5,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
)
def process_raw_event(event_id: int) -> int:
    """Apply RawEvent `event_id` (and earlier unprocessed events of its key); returns how many were applied."""
    return ingestion.process_raw_event(event_id=event_id).applied


@shared_task(acks_late=True, time_limit=60, soft_time_limit=45)
def sweep_raw_events() -> int:
    """Enqueue processing of events left unprocessed for SWEEP_AFTER; returns how many tasks were enqueued."""
    event_ids = ingestion.claim_stale_raw_events()
    enqueued = 0
    for event_id in event_ids:
        if not enqueue_process_raw_event(event_id):
            break  # the broker is down: the claimed rest is tried again at a later sweep
        enqueued += 1
    return enqueued


def enqueue_process_raw_event(event_id: int) -> bool:
    """Publish process_raw_event(event_id); False (logged, not raised) when the broker is unreachable."""
    try:
        process_raw_event.apply_async((event_id,), retry_policy=PUBLISH_RETRY_POLICY)
    except BROKER_ERRORS as exc:
        logger.warning(
            "Could not enqueue processing of raw event %s (%s: %s); the sweeper will retry.",
            event_id,
            type(exc).__name__,
            exc,
        )
        return False
    return True


from . import notify_tasks  # noqa: E402, F401  (registers the escalation and notification tasks)
