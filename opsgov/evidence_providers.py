"""Named providers of live evidence: the records other areas keep, read by controls (compliance).

Not to be confused with opsgov.evidence, which protects evidence rows from deletion.

A compliance control can be bound to evidence an area already records (a restore test, a
published post-incident review, a reviewed runbook, a gate's check) instead of a file someone
uploads. Each area says what it can prove by registering an :class:`EvidenceProvider` in its
``evidence_providers`` module (discovered by opsgov.apps, like gates and metrics):

- ``key``: a stable name, ``"<app>.<what>"`` (e.g. ``"incidents.review_published"``);
- ``latest(scope=..., now=...)``: the newest record for a scope (a service slug, a gate key,
  whatever ``scope_help`` says; empty means "any"), or None when there is none;
- ``max_age()``: how long a record stays current (usually read from the policy).

:meth:`EvidenceProvider.read` answers the one question a control asks: the current record,
its time and link, and whether it is fresh (recorded within ``max_age`` and supporting the
control), stale (too old) or failing (the newest record says the control is not met).
Staleness is computed at read time, so evidence goes stale by itself.

Core ships one generic provider, ``"gate"``: a quality gate's latest evaluation, or one of
its evidence rows named by its stable key (``"<gate>"`` or ``"<gate>|<evidence key>"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.urls import reverse

from .models import GateEvaluation, GateStatus
from .policy import get_policy
from .registry import KeyedRegistry


class Freshness(StrEnum):
    CURRENT = "current"
    STALE = "stale"
    FAILING = "failing"
    MISSING = "missing"


@dataclass(frozen=True)
class EvidenceRecord:
    """One record an area holds: what it is, when opsgov recorded it, where to see it, whether it supports."""

    label: str
    recorded_at: datetime
    url: str = ""
    supports: bool = True
    detail: str = ""


@dataclass(frozen=True)
class EvidenceReading:
    """What a provider answered for a scope at an instant."""

    provider: str
    scope: str
    record: EvidenceRecord | None
    freshness: Freshness
    stale_at: datetime | None

    @property
    def is_current(self) -> bool:
        return self.freshness == Freshness.CURRENT


@dataclass(frozen=True, eq=False)
class EvidenceProvider:
    key: str
    title: str
    latest: Callable[..., EvidenceRecord | None]
    max_age: Callable[[], timedelta]
    scope_help: str = ""
    description: str = ""

    def read(self, *, scope: str, now: datetime) -> EvidenceReading:
        record = self.latest(scope=scope, now=now)
        if record is None:
            return EvidenceReading(self.key, scope, None, Freshness.MISSING, None)
        stale_at = record.recorded_at + self.max_age()
        if stale_at <= now:
            freshness = Freshness.STALE
        elif not record.supports:
            freshness = Freshness.FAILING
        else:
            freshness = Freshness.CURRENT
        return EvidenceReading(self.key, scope, record, freshness, stale_at)


class EvidenceProviderRegistry(KeyedRegistry[EvidenceProvider]):
    """The evidence providers of every installed app, by key."""

    label = "evidence provider"

    def all(self) -> list[EvidenceProvider]:
        return sorted(self._entries.values(), key=lambda provider: provider.key)

    def choices(self) -> list[tuple[str, str]]:
        return [(provider.key, provider.title) for provider in self.all()]

    def read(self, *, key: str, scope: str, now: datetime) -> EvidenceReading:
        """Read `key` for `scope`; an unknown (unregistered) provider reads as missing evidence."""
        if key not in self:
            return EvidenceReading(key, scope, None, Freshness.MISSING, None)
        return self.get(key).read(scope=scope, now=now)


providers = EvidenceProviderRegistry()


# --- The generic provider: quality gates' evaluations and their evidence rows ---------------


def _gate_latest(*, scope: str, now: datetime) -> EvidenceRecord | None:
    gate, _, evidence_key = scope.partition("|")
    evaluation = (
        GateEvaluation.objects.filter(gate=gate, evaluated_at__lte=now).order_by("-evaluated_at", "-pk").first()
    )
    if evaluation is None:
        return None
    url = reverse("gate-detail", kwargs={"key": gate})
    if not evidence_key:
        return EvidenceRecord(
            label=f"Gate {gate}: {GateStatus(evaluation.status).label}",
            recorded_at=evaluation.evaluated_at,
            url=url,
            supports=evaluation.status == GateStatus.PASS,
            detail=evaluation.reason,
        )
    for row in evaluation.evidence or []:
        if row.get("key") == evidence_key:
            return EvidenceRecord(
                label=str(row.get("label") or evidence_key),
                recorded_at=evaluation.evaluated_at,
                url=str(row.get("url") or url),
                # A waived row is not met: an exception covers it, evidence does not.
                supports=row.get("status") == GateStatus.PASS,
                detail=str(row.get("detail") or ""),
            )
    return None


providers.register(
    EvidenceProvider(
        key="gate",
        title="Quality gate evaluation (or one of its checks)",
        latest=_gate_latest,
        max_age=lambda: get_policy().compliance.gate_evidence_fresh_within.approximate(business_day_hours=24),
        scope_help='A gate key ("backup_dr"), or a gate key and an evidence row key, e.g. '
        '"incident_management|escalation:checkout".',
        description="Current while the gate's latest evaluation is recent and the gate (or the row) passes.",
    )
)
