"""What apps run in each web server worker beside its requests, started and stopped by the server's hooks.

The web server's configuration (gunicorn.conf.py) calls :func:`worker_started`
in each worker once the app is loaded (post_worker_init) and
:func:`worker_exiting` when a worker stops (worker_exit), and imports nothing
but this module: apps register their callbacks from ``AppConfig.ready()``::

    worker_hooks.on_worker_start(start_my_thread)   # called with this worker's WorkerOptions
    worker_hooks.on_worker_exit(stop_my_thread)     # called without arguments

e.g. incidents starts a background thread that publishes ingested events in
batches, and flushes it on exit. The callbacks run in registration order. In a
process where the app was never loaded (gunicorn's master calls worker_exit for
a worker already gone) nothing is registered and nothing runs.

No Django import here: the server's configuration imports this module before
Django is set up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerOptions:
    """How the server runs this worker, as its configuration decided."""

    #: Publish tasks in batches from a background thread (gunicorn.conf.py: INGEST_ENQUEUE=batched, the
    #: default), rather than one at a time in each request.
    batched_publishing: bool = True


StartCallback = Callable[[WorkerOptions], None]
ExitCallback = Callable[[], None]

_on_start: list[StartCallback] = []
_on_exit: list[ExitCallback] = []


def on_worker_start(callback: StartCallback) -> StartCallback:
    """Run `callback(options)` in each worker once the app is loaded (registered once, however often asked)."""
    if callback not in _on_start:
        _on_start.append(callback)
    return callback


def on_worker_exit(callback: ExitCallback) -> ExitCallback:
    """Run `callback()` in a worker that stops (max_requests, reload, shutdown)."""
    if callback not in _on_exit:
        _on_exit.append(callback)
    return callback


def worker_started(options: WorkerOptions | None = None) -> None:
    """For the server's post-fork hook: run the start callbacks."""
    for callback in list(_on_start):
        callback(options or WorkerOptions())


def worker_exiting() -> None:
    """For the server's worker-exit hook: run the exit callbacks."""
    for callback in list(_on_exit):
        callback()
