"""Celery tasks of incidents: thin wrappers around incidents.ingestion, and how web requests enqueue them.

- `process_raw_event(event_id)`: applies a stored RawEvent (and any earlier
  unprocessed one of the same key) to incidents. Idempotent, so acks_late and
  redelivery are safe; retried with backoff only for database errors of the
  OperationalError kind (lost connection, deadlock, "database is locked").
- `process_raw_events(event_ids)`: the same for a batch of events, one after
  the other (each in its own transaction); what the enqueue buffer publishes.
- `sweep_raw_events()`: the safety net for broker outages and lost buffers;
  beat runs it every 30 s ("sweep-raw-events" in CELERY_BEAT_SCHEDULE).
- `enqueue_process_raw_event(event_id)`: how web requests enqueue processing,
  in an on-commit callback; never raises on a broker outage (the event is
  already stored). It publishes at once, unless this process started
  `enqueue_buffer` (gunicorn workers do: gunicorn.conf.py), which publishes
  the ids in batches from a background thread (incidents.ingestion, "Enqueueing").
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence

from opsgov.celery_tasks import opsgov_task
from opsgov.publishing import publish, publish_each

from . import ingestion

logger = logging.getLogger(__name__)

# How a failed publish is logged ("Could not enqueue ...", opsgov.publishing).
_PROCESSING_OF_EVENT = "processing of raw event %s"
_SWEEPER_RETRIES = "the sweeper will retry"

#: Longest an id waits in a started enqueue buffer before it is published (seconds).
ENQUEUE_INTERVAL = 0.05
#: Most ids in one process_raw_events task; a buffer this full is published at once.
ENQUEUE_BATCH = 100


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
    """Have the owners told at once when processing dead-lettered an event (incidents.dead_letters)."""
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
        what=_PROCESSING_OF_EVENT,
        then=_SWEEPER_RETRIES,
    )


def enqueue_process_raw_event(event_id: int) -> bool:
    """Have RawEvent `event_id` processed: into the enqueue buffer if this process started it, else published now.

    False (logged, not raised) when the broker is unreachable.
    """
    if enqueue_buffer.running:
        enqueue_buffer.add(event_id)
        return True
    return _publish_one(event_id)


def _publish_one(event_id: int) -> bool:
    """Publish process_raw_event(event_id); False (logged, not raised) when the broker is unreachable."""
    return publish(
        process_raw_event,
        (event_id,),
        logger=logger,
        what=_PROCESSING_OF_EVENT,
        what_args=(event_id,),
        then=_SWEEPER_RETRIES,
    )


def _publish_batch(event_ids: Sequence[int]) -> bool:
    """Publish process_raw_events(event_ids); False (logged, not raised) when the broker is unreachable."""
    return publish(
        process_raw_events,
        (list(event_ids),),
        logger=logger,
        what="processing of %d raw events (%s to %s)",
        what_args=(len(event_ids), event_ids[0], event_ids[-1]),
        then=_SWEEPER_RETRIES,
    )


class EnqueueBuffer:
    """RawEvent ids committed by this process, published in batches by a background thread.

    Off until `start()`; then `add()` (an on-commit callback, so the row is
    committed) only appends the id, and the thread publishes one
    process_raw_events task per `batch` ids: at the latest `interval` seconds
    after the first id arrived, at once when `batch` ids are waiting. `stop()`
    publishes what is left. Ids whose publish fails (the broker is down), or
    that a killed process still held, are dropped here: their rows stay
    unprocessed in the database and the sweeper enqueues them.

    It belongs to the process that started it: in a forked child it is not
    running, and the child publishes one task per event.
    """

    def __init__(self, *, interval: float = ENQUEUE_INTERVAL, batch: int = ENQUEUE_BATCH) -> None:
        self.interval = interval
        self.batch = batch
        self._ids: list[int] = []
        self._changed = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._pid == os.getpid()

    def start(self) -> None:
        """Start the publishing thread (a daemon); nothing happens if it runs already."""
        if self.running:
            return
        with self._changed:
            self._ids = []  # a fork's copy of its parent's ids is the parent's to publish
            self._stopping = False
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="opsgov-enqueue-buffer", daemon=True)
        self._thread.start()

    def add(self, event_id: int) -> None:
        with self._changed:
            self._ids.append(event_id)
            if len(self._ids) == 1 or len(self._ids) >= self.batch:
                self._changed.notify()

    def pending(self) -> int:
        with self._changed:
            return len(self._ids)

    def flush(self) -> int:
        """Publish every waiting id, `batch` ids a task; returns how many ids were published."""
        with self._changed:
            ids, self._ids = self._ids, []
        published = 0
        for start in range(0, len(ids), self.batch):
            chunk = ids[start : start + self.batch]
            if not _publish_batch(chunk):
                rest = len(ids) - start - len(chunk)
                if rest:
                    logger.warning("Also not enqueued: %d more raw events; the sweeper will.", rest)
                break
            published += len(chunk)
        return published

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after a last flush, and publish anything added since.

        In a forked child of the process that started it, the ids are the parent's: dropped, not published.
        """
        thread, owner = self._thread, self._pid
        if thread is not None and self.running:
            with self._changed:
                self._stopping = True
                self._changed.notify()
            thread.join(timeout)
        self._thread = None
        self._pid = None
        if owner in (None, os.getpid()):
            self.flush()
        else:
            with self._changed:
                self._ids = []

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._ids and not self._stopping:
                    self._changed.wait()
                if not self._stopping and len(self._ids) < self.batch:
                    self._changed.wait(self.interval)  # gather more; a full batch or stop() wakes it early
                stopping = self._stopping
            try:
                self.flush()
            except Exception:  # the thread must live on; the sweeper enqueues what this flush lost
                logger.exception("Publishing a batch of raw events failed; the sweeper will enqueue them.")
            if stopping:
                return


#: The process's enqueue buffer: started in gunicorn workers (gunicorn.conf.py, post_worker_init).
enqueue_buffer = EnqueueBuffer()


from . import dead_letter_tasks, notify_tasks  # noqa: E402, F401  (registers the escalation, notification and dead-letter tasks)
