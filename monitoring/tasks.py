"""Celery tasks of the monitoring app: thin wrappers around the SLO engine."""

from __future__ import annotations

from celery import shared_task

from . import engine


@shared_task(acks_late=True, time_limit=600, soft_time_limit=540)
def evaluate_slos() -> int:
    """One SLO evaluation cycle (beat: every minute). A cycle already running makes this one a no-op."""
    result = engine.evaluate_slos(wait=False)
    return -1 if result.skipped else result.evaluated
