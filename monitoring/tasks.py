"""Celery tasks of monitoring: thin wrappers around its services."""

from __future__ import annotations

from celery import shared_task

from . import prometheus_pull


@shared_task(acks_late=True, time_limit=300, soft_time_limit=240)
def pull_prometheus_slis() -> int:
    """Beat, every minute ("pull-prometheus-slis"): SLI buckets of the SLOs pulled from Prometheus; returns how many."""
    return sum(result.buckets for result in prometheus_pull.pull_prometheus_slis())
