"""Celery tasks of monitoring: thin wrappers around its services (the SLO engine, the PromQL pull)."""

from __future__ import annotations

from opsgov.celery_tasks import opsgov_task

from .checks import tasks as check_tasks  # noqa: F401  (registers the synthetic check tasks)
from .slos import engine, prometheus_pull


@opsgov_task("monitoring.tasks.pull_prometheus_slis", time_limit=300, soft_time_limit=240)
def pull_prometheus_slis() -> int:
    """Beat, every minute ("pull-prometheus-slis"): SLI buckets of the SLOs pulled from Prometheus; returns how many."""
    return sum(result.buckets for result in prometheus_pull.pull_prometheus_slis())


@opsgov_task("monitoring.tasks.evaluate_slos", time_limit=600, soft_time_limit=540)
def evaluate_slos() -> int:
    """One SLO evaluation cycle (beat: every minute). A cycle already running makes this one a no-op."""
    result = engine.evaluate_slos(wait=False)
    return -1 if result.skipped else result.evaluated
