"""Publishing Celery tasks where a broker outage must not raise.

Whatever opsgov enqueues is recorded in the database first (a stored RawEvent,
a notification row, a claimed check run, a gate notification), and a sweeper or
the next beat run enqueues it again when its task never ran. So a publish tries
once more, quickly (the caller, often a web request, waits for it), then gives
up with a warning instead of failing the caller.

Services name the task they publish (``"incidents.notify_tasks.deliver_notification"``) instead of importing
it: a tasks module imports its services (tasks are thin wrappers around them), so a service importing
its tasks module would close an import cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from celery import Task, current_app
from kombu.exceptions import OperationalError as BrokerOperationalError

#: What publishing raises when the broker cannot be reached: kombu's OperationalError
#: (Celery re-raises transport connection errors as it) and OSError (ConnectionError,
#: TimeoutError, or the filesystem transport failing to write its message file).
BROKER_ERRORS: tuple[type[BaseException], ...] = (BrokerOperationalError, OSError)

#: One quick retry when publishing, not Celery's default of three.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}


def publish(
    task: Task | str,
    args: tuple[Any, ...],
    *,
    logger: logging.Logger,
    what: str,
    then: str,
    what_args: tuple[Any, ...] = (),
) -> bool:
    """Publish `task` (a task or its registered name) with `args`; False, and a warning on `logger`, when
    the broker is unreachable.

    The warning reads "Could not enqueue <what % what_args> (<error>); <then>.",
    `then` saying what will enqueue the work later.
    """
    try:
        (current_app.signature(task) if isinstance(task, str) else task).apply_async(
            args, retry_policy=PUBLISH_RETRY_POLICY
        )
    except BROKER_ERRORS as exc:
        logger.warning(f"Could not enqueue {what} (%s: %s); {then}.", *what_args, type(exc).__name__, exc)
        return False
    return True


def publish_each(task: Task | str, ids: Iterable[Any], *, logger: logging.Logger, what: str, then: str) -> int:
    """Publish `task(id)` for each id, stopping at the first broker error; returns how many were published.

    `what` is formatted with the id that could not be published (see `publish`).
    """
    published = 0
    for item in ids:
        if not publish(task, (item,), logger=logger, what=what, what_args=(item,), then=then):
            break
        published += 1
    return published
