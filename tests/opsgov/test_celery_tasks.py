"""opsgov_task: every task's house options written once (opsgov.celery_tasks)."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Task
from django.db import InterfaceError, OperationalError

from opsgov.celery import app as celery_app
from opsgov.celery_tasks import opsgov_task


def test_a_task_has_its_name_acks_late_and_time_limits_and_no_retry_unless_asked() -> None:
    @opsgov_task("tests.celery_tasks.plain", time_limit=30, soft_time_limit=20)
    def plain(value: int) -> int:
        return value + 1

    assert plain.name == "tests.celery_tasks.plain" and "tests.celery_tasks.plain" in celery_app.tasks
    assert (plain.acks_late, plain.time_limit, plain.soft_time_limit) == (True, 30, 20)
    assert not getattr(plain, "autoretry_for", ())
    assert plain(1) == 2  # called as a function, as tests call tasks


def test_retry_db_errors_retries_transient_database_errors_with_a_bounded_backoff() -> None:
    @opsgov_task("tests.celery_tasks.retrying", time_limit=60, soft_time_limit=45, retry_db_errors=True, max_retries=5)
    def retrying() -> None: ...

    options: Any = retrying  # the retry options are attributes Celery's stubs do not declare
    assert set(options.autoretry_for) == {OperationalError, InterfaceError}
    assert (options.max_retries, options.retry_backoff, options.retry_backoff_max) == (5, 2, 30)
    assert options.retry_jitter is True


def test_a_bound_task_gets_itself_and_options_pass_through() -> None:
    @opsgov_task("tests.celery_tasks.bound", bind=True, time_limit=60, soft_time_limit=45, max_retries=2)
    def bound(self: Task, value: int) -> str:
        return f"{self.name}:{value}"

    assert bound.max_retries == 2
    assert bound(3) == "tests.celery_tasks.bound:3"


def test_the_soft_time_limit_comes_before_the_hard_one() -> None:
    with pytest.raises(ValueError, match="soft time limit"):
        opsgov_task("tests.celery_tasks.wrong", time_limit=30, soft_time_limit=30)
