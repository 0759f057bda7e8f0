"""Live evidence the monitoring area publishes for compliance controls (opsgov.evidence_providers).

``monitoring.runbook_reviewed``: the most recently reviewed runbook (of a service, when the scope
names its slug); current while its review is not overdue (policy ``monitoring.runbook_review_every``).

``monitoring.runbook``: one runbook named by its slug (e.g. the security incident runbook the
security gate asks for), current while it exists and its review is not overdue.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from opsgov.evidence_providers import EvidenceProvider, EvidenceRecord, providers
from opsgov.policy import get_policy

from .models import Runbook


def _latest_runbook_review(*, scope: str, now: datetime) -> EvidenceRecord | None:
    runbooks = Runbook.objects.all()
    if scope:
        runbooks = runbooks.filter(services__slug=scope)
    return _record(runbooks.order_by("-last_reviewed_at", "-pk").first(), now=now)


def _runbook_by_slug(*, scope: str, now: datetime) -> EvidenceRecord | None:
    return _record(Runbook.objects.filter(slug=scope).first() if scope else None, now=now)


def _record(runbook: Runbook | None, *, now: datetime) -> EvidenceRecord | None:
    if runbook is None:
        return None
    return EvidenceRecord(
        label=f"Runbook {runbook.title} reviewed {runbook.last_reviewed_at}",
        recorded_at=datetime.combine(runbook.last_reviewed_at, time.min, tzinfo=UTC),
        url=runbook.get_absolute_url(),
        supports=not runbook.is_review_overdue(now.date()),
    )


def _review_every() -> timedelta:
    return get_policy().monitoring.runbook_review_every.approximate(business_day_hours=24) + timedelta(days=1)


providers.register(
    EvidenceProvider(
        key="monitoring.runbook_reviewed",
        title="Runbook reviewed on time",
        latest=_latest_runbook_review,
        max_age=_review_every,
        scope_help="A service slug (its most recently reviewed runbook), or empty for any runbook.",
    )
)
providers.register(
    EvidenceProvider(
        key="monitoring.runbook",
        title="A named runbook exists and is reviewed on time",
        latest=_runbook_by_slug,
        max_age=_review_every,
        scope_help="The runbook's slug, e.g. security-incident.",
    )
)
