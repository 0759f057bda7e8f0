"""Enqueueing the processing of stored RawEvents, as web requests, replays and internal alerts do.

`enqueue_process_raw_event(event_id)` has an event processed by the Celery
task `incidents.tasks.process_raw_event`, in an on-commit callback; it never
raises on a broker outage (the event is already stored, and the sweeper
`incidents.tasks.sweep_raw_events` enqueues it later). It publishes at once,
unless this process started `enqueue_buffer` (gunicorn workers do:
gunicorn.conf.py), which publishes the ids in batches, as
`incidents.tasks.process_raw_events`, from a background thread
(incidents.ingest.services, "Enqueueing").

The tasks are published by their registered names: incidents.tasks imports
the ingestion services, so this module, which they use, cannot import it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence

from opsgov.publishing import publish

logger = logging.getLogger(__name__)

#: The tasks enqueued here (incidents.tasks), by their registered names.
PROCESS_TASK = "incidents.tasks.process_raw_event"
PROCESS_BATCH_TASK = "incidents.tasks.process_raw_events"

# How a failed publish is logged ("Could not enqueue ...", opsgov.publishing); the sweeper's too.
PROCESSING_OF_EVENT = "processing of raw event %s"
SWEEPER_RETRIES = "the sweeper will retry"

#: Longest an id waits in a started enqueue buffer before it is published (seconds).
ENQUEUE_INTERVAL = 0.05
#: Most ids in one process_raw_events task; a buffer this full is published at once.
ENQUEUE_BATCH = 100


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
        PROCESS_TASK,
        (event_id,),
        logger=logger,
        what=PROCESSING_OF_EVENT,
        what_args=(event_id,),
        then=SWEEPER_RETRIES,
    )


def _publish_batch(event_ids: Sequence[int]) -> bool:
    """Publish process_raw_events(event_ids); False (logged, not raised) when the broker is unreachable."""
    return publish(
        PROCESS_BATCH_TASK,
        (list(event_ids),),
        logger=logger,
        what="processing of %d raw events (%s to %s)",
        what_args=(len(event_ids), event_ids[0], event_ids[-1]),
        then=SWEEPER_RETRIES,
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
