"""Retention: the only way evidence leaves the database (opsgov.evidence), under the policy's periods.

`manage.py apply_retention` lists what the policy's `retention` section allows to go (a dry run)
and, with `--apply`, deletes it in batches and writes one audit row with the counts per model, the
cut-off instants and who ran it. Audit rows are never removed. The periodic thinning of metric
history (`services.prune_snapshots`) goes through `delete_in_batches` too and is audited the same way.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dateutil.relativedelta import relativedelta
from django.db import models, transaction
from django.utils import timezone

from . import audit
from .evidence import evidence_deletion
from .models import MetricSnapshot
from .policy import Policy, Span, Unit, get_policy


def cutoff_before(span: Span, now: datetime) -> datetime:
    """`now` minus `span` (months and years on the calendar)."""
    if span.unit == Unit.MONTHS:
        return now - relativedelta(months=span.amount)
    if span.unit == Unit.YEARS:
        return now - relativedelta(years=span.amount)
    return now - span.as_timedelta()


@dataclass(frozen=True)
class RetentionRule:
    """One kind of evidence the policy lets go: its rows older than `cutoff`."""

    label: str  # "app_label.Model"
    description: str
    cutoff: datetime
    queryset: Callable[[datetime], models.QuerySet[Any]]

    def candidates(self) -> models.QuerySet[Any]:
        return self.queryset(self.cutoff)


#: Makes one rule from the effective policy and the instant of the run.
RuleSource = Callable[[Policy, datetime], RetentionRule]
_sources: list[RuleSource] = []


def register_retention(source: RuleSource) -> None:
    """Called from an app's AppConfig.ready(): evidence of its own that the policy lets go after a period."""
    if source not in _sources:
        _sources.append(source)


def metric_snapshot_rule(policy: Policy, moment: datetime) -> RetentionRule:
    period = policy.retention.metric_snapshots
    return RetentionRule(
        label="opsgov.MetricSnapshot",
        description=f"metric snapshots computed before the cut-off, except current ones "
        f"(retention.metric_snapshots = {period})",
        cutoff=cutoff_before(period, moment),
        queryset=lambda cutoff: MetricSnapshot.objects.filter(computed_at__lt=cutoff, is_current=False),
    )


def retention_rules(*, policy: Policy | None = None, now: datetime | None = None) -> list[RetentionRule]:
    """The registered rules (by label), with their cut-offs as of `now` under the policy's `retention` section."""
    effective = policy or get_policy()
    moment = now or timezone.now()
    return sorted((source(effective, moment) for source in _sources), key=lambda rule: rule.label)


@dataclass
class RetentionResult:
    counts: dict[str, int] = field(default_factory=dict)
    cutoffs: dict[str, str] = field(default_factory=dict)


def delete_in_batches(
    queryset: models.QuerySet[Any],
    *,
    reason: str,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Delete the rows of `queryset` (evidence included), `batch_size` per transaction; returns the
    number of `queryset.model` rows deleted. Only retention code may call this."""
    model = queryset.model
    deleted = 0
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        with transaction.atomic(), evidence_deletion(reason):
            _, per_model = model._default_manager.filter(pk__in=ids).delete()
        deleted += per_model.get(model._meta.label, 0)
        if progress is not None:
            progress(deleted)


def audit_removal(
    *, result: RetentionResult, reason: str, actor: Any = None, os_user: str | None = None, complete: bool = True
) -> None:
    """The audit row of a retention run: what went (counts per model), the cut-offs and who ran it."""
    audit.record_event(
        audit.RETENTION_APPLIED,
        actor=actor,
        target_repr=reason,
        changes={label: [count, 0] for label, count in result.counts.items()},
        details={
            "reason": reason,
            "removed": result.counts,
            "cutoffs": result.cutoffs,
            "os_user": os_user if os_user is not None else getpass.getuser(),
            "actor": getattr(actor, "username", None),
            "complete": complete,
        },
    )


def apply_retention(
    *,
    apply: bool,
    actor: Any = None,
    batch_size: int = 1000,
    now: datetime | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> RetentionResult:
    """Count (and with `apply`, delete) what the policy's retention periods allow; audit a deletion.

    Each batch is its own transaction, so a long run does not hold locks; if it stops halfway,
    the audit row still records what went (marked incomplete) before the error propagates.
    """
    rules = retention_rules(now=now)
    result = RetentionResult(cutoffs={rule.label: rule.cutoff.isoformat() for rule in rules})
    if not apply:
        result.counts = {rule.label: rule.candidates().count() for rule in rules}
        return result
    reason = "manage.py apply_retention"
    complete = False
    try:
        for rule in rules:
            total = rule.candidates().count()
            result.counts[rule.label] = 0

            def report(done: int, label: str = rule.label, total: int = total) -> None:
                result.counts[label] = done
                if progress is not None:
                    progress(label, done, total)

            result.counts[rule.label] = delete_in_batches(
                rule.candidates(), reason=reason, batch_size=batch_size, progress=report
            )
        complete = True
    finally:
        if any(result.counts.values()) or complete:
            audit_removal(result=result, reason=reason, actor=actor, complete=complete)
    return result
