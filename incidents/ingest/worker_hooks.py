"""What incidents runs in each web worker (opsgov.worker_hooks): the batched publishing of ingested events.

Registered from IncidentsConfig.ready(); gunicorn.conf.py runs the hooks.
"""

from __future__ import annotations

from opsgov.worker_hooks import WorkerOptions

from .enqueue import enqueue_buffer


def start(options: WorkerOptions) -> None:
    """Once the worker loaded the app: publish ingested events in batches from a background thread
    (incidents.ingest.enqueue.EnqueueBuffer), unless the server asked for one task per event."""
    if options.batched_publishing:
        enqueue_buffer.start()


def stop() -> None:
    """When the worker stops: publish what the buffer still holds."""
    enqueue_buffer.stop()
