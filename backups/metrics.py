"""Backup success rate: the backups app's operational metric (DESIGN.md, "Metric definitions").

successful runs ÷ expected runs x 100 over each window of opsgov.registry.WINDOWS, where a missed run
(an expected slot nothing answered within its grace period, recorded by the beat reconciliation) and a
late run count as failed (backups.selectors.success_counts). Scopes:

- ``job:<id>``, ``service:<slug>``, ``data_type:<key>``: the sums of their jobs' counts;
- ``global``: every active job's counts summed (the organisation).

sample_size = expected runs; details hold good and expected. No expected run: value None with
``details["no_data"]``, never 100 %. Target: ``policy.targets.backup_success_percent``, met at or above it.
Before computing, ``prepare`` runs the reconciliation, so runs missed since the last beat count.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from opsgov.policy import get_policy
from opsgov.registry import WINDOWS, MetricDefinition, MetricValue, metrics

from . import services
from .models import BackupJob
from .selectors import Rate, success_counts

GLOBAL = "global"


def _value(scope: str, rate: Rate) -> MetricValue:
    details: dict[str, object] = {"good": rate.good, "expected": rate.expected}
    if rate.expected == 0:
        details["no_data"] = "no expected runs in the window"
    return MetricValue(scope=scope, value=rate.percent, sample_size=rate.expected, details=details)


def compute_success_rate(*, window: str, now: datetime) -> list[MetricValue]:
    start = now - WINDOWS[window]
    jobs = list(BackupJob.objects.filter(active=True).select_related("service").order_by("pk"))
    counts = success_counts(start=start, end=now, job_ids=[job.pk for job in jobs])
    by_service: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_type: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    total = [0, 0]
    values = []
    for job in jobs:
        rate = counts.get(job.pk, Rate(0, 0))
        values.append(_value(f"job:{job.pk}", rate))
        for bucket in (by_service[job.service.slug], by_type[job.data_type], total):
            bucket[0] += rate.good
            bucket[1] += rate.expected
    values.extend(_value(f"service:{slug}", Rate(*sums)) for slug, sums in sorted(by_service.items()))
    values.extend(_value(f"data_type:{key}", Rate(*sums)) for key, sums in sorted(by_type.items()))
    values.insert(0, _value(GLOBAL, Rate(*total)))
    return values


def _prepare(*, now: datetime, **kwargs: object) -> None:
    services.reconcile(now=now)


def _target() -> float:
    return float(get_policy().targets.backup_success_percent)


BACKUP_SUCCESS_RATE = MetricDefinition(
    key="backup_success_rate",
    title="Backup success rate",
    unit="percent",
    comparison=">=",
    target=_target,
    compute=compute_success_rate,
    prepare=_prepare,
    description="Successful ÷ expected backup runs over the window; a missed or late run counts as failed.",
)

# Registered when opsgov discovers this module (opsgov.apps).
metrics.register(BACKUP_SUCCESS_RATE)
