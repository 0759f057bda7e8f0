"""How opsgov defines a Celery task: one decorator that writes the house's options once.

    @opsgov_task("backups.tasks.check_backup_run", time_limit=60, soft_time_limit=45, retry_db_errors=True)
    def check_backup_run(run_id: int) -> str: ...

Every task of every app is defined with :func:`opsgov_task` (a ``shared_task``), so each one

- has an explicit registered name. Queued messages, the beat schedule
  (CELERY_BEAT_SCHEDULE in settings) and task routes name tasks, so a name must
  not follow the module when code moves: a task keeps the name it first had.
- is ``acks_late``: with CELERY_TASK_REJECT_ON_WORKER_LOST, a task whose worker
  dies goes back on the queue. Tasks take ids, are idempotent, and claim their
  work in the database (STYLE.md, "Celery").
- has explicit time limits, the soft one first (the hard one kills the process).
- retries, when asked (``retry_db_errors=True``), only on transient database
  errors (:data:`RETRYABLE_DB_ERRORS`): at most ``max_retries`` times, with an
  exponential backoff from 2 s capped at ``retry_backoff_max`` seconds, with
  jitter. Any other exception fails the task: a delivery's retries are its
  outbox's rows (opsgov.outbox), found again by a sweeper, not Celery countdowns.

Other ``shared_task`` options (``bind=True``, ``max_retries`` for a task that
calls ``self.retry()`` itself) pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar, overload

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

#: Database errors worth retrying a task for: transient by nature (a lost connection, a deadlock,
#: "database is locked").
RETRYABLE_DB_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)

#: First retry after about 2 s, then 4, 8... (Celery's retry_backoff), never longer than retry_backoff_max.
RETRY_BACKOFF = 2

_P = ParamSpec("_P")
_R = TypeVar("_R")


@overload
def opsgov_task(
    name: str,
    *,
    time_limit: int,
    soft_time_limit: int,
    retry_db_errors: bool = ...,
    max_retries: int = ...,
    retry_backoff_max: int = ...,
    bind: Literal[False] = ...,
    **options: Any,
) -> Callable[[Callable[_P, _R]], Task[_P, _R]]: ...


@overload
def opsgov_task(
    name: str,
    *,
    time_limit: int,
    soft_time_limit: int,
    retry_db_errors: bool = ...,
    max_retries: int = ...,
    retry_backoff_max: int = ...,
    bind: Literal[True],
    **options: Any,
) -> Callable[[Callable[Concatenate[Task[_P, _R], _P], _R]], Task[_P, _R]]: ...


def opsgov_task(
    name: str,
    *,
    time_limit: int,
    soft_time_limit: int,
    retry_db_errors: bool = False,
    max_retries: int = 3,
    retry_backoff_max: int = 30,
    bind: bool = False,
    **options: Any,
) -> Any:
    """A ``shared_task`` registered as `name`, acks_late, with these time limits (module docstring).

    `retry_db_errors`: retry on :data:`RETRYABLE_DB_ERRORS` only, at most `max_retries` times, with
    backoff (2 s doubling, at most `retry_backoff_max` s) and jitter. `max_retries` is also the bound
    of a bound task's own ``self.retry()`` (Celery's default, 3).
    """
    if not 0 < soft_time_limit < time_limit:
        raise ValueError(f"task {name!r}: the soft time limit must be positive and below the hard one")
    retry: dict[str, Any] = (
        {
            "autoretry_for": RETRYABLE_DB_ERRORS,
            "retry_backoff": RETRY_BACKOFF,
            "retry_backoff_max": retry_backoff_max,
            "retry_jitter": True,
        }
        if retry_db_errors
        else {}
    )
    decorator: Any = shared_task(
        name=name,
        bind=bind,
        acks_late=True,
        time_limit=time_limit,
        soft_time_limit=soft_time_limit,
        max_retries=max_retries,
        **retry,
        **options,
    )
    return decorator
