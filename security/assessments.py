"""Security assessments (writes): pentests and reviews, and the findings they report.

An assessment finding is a security Finding with ``source="assessment"``, so it is listed,
filtered (``?source=assessment``), counted past SLA by the gate and the metrics, and accepted as
a risk exactly like a scanner finding. Its identity keeps it apart from scanner findings: the
package key ``assessment:<id>`` and the vulnerability id ``<KIND>-<assessment id>-<reference>``
(e.g. ``PENTEST-4-PT-3``), with no scan scope, so no scan import ever fixes or reopens it.
Its due time follows the same SLA by severity (security.services.due_for), from when it is recorded.
Its status changes by hand: ``set_status`` (fixed, not applicable with a justification, or open again).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from opsgov.policy import get_policy

from .models import Assessment, AssessmentFinding, Finding, FindingSource, FindingStatus, Severity
from .services import due_for


@transaction.atomic
def create_assessment(*, actor: Any = None, now: datetime | None = None, **fields: Any) -> Assessment:
    """Record a pentest or review (kind, title, asset, performed_by, started_on, ...)."""
    assessment = Assessment(created_by=actor, created_at=now or timezone.now(), **fields)
    assessment.full_clean()
    assessment.save()
    return assessment


@transaction.atomic
def record_finding(
    *,
    assessment: Assessment,
    reference: str,
    title: str,
    severity: str,
    owner: Any = None,
    description: str = "",
    recommendation: str = "",
    now: datetime | None = None,
) -> AssessmentFinding:
    """Add one finding of `assessment` to the findings list, on the SLA clock of its severity."""
    now = now or timezone.now()
    reference = reference.strip()
    if not reference:
        raise ValidationError({"reference": ["required"]})
    if severity not in Severity.values:
        raise ValidationError({"severity": [f"{severity!r} is not one of {', '.join(Severity.values)}"]})
    if assessment.items.filter(reference=reference).exists():
        raise ValidationError({"reference": [f"{reference} is recorded already for this assessment"]})
    finding = Finding(
        asset=assessment.asset,
        package_key=f"assessment:{assessment.pk}",
        package_name=assessment.title[:300],
        vulnerability_id=f"{assessment.kind.upper()}-{assessment.pk}-{reference}"[:100],
        title=title[:500],
        severity=severity,
        severity_source="assessment",
        source=FindingSource.ASSESSMENT,
        status=FindingStatus.OPEN,
        first_seen_at=now,
        last_seen_at=now,
        sla_started_at=now,
        due_at=due_for(severity, now),
        owner=owner or assessment.asset.owner,
        created_at=now,
    )
    finding.full_clean()
    finding.save()
    item = AssessmentFinding(
        assessment=assessment,
        finding=finding,
        reference=reference,
        description=description,
        recommendation=recommendation,
        created_at=now,
    )
    item.full_clean()
    item.save()
    return item


@transaction.atomic
def set_status(
    *, item: AssessmentFinding, status: str, justification: str = "", now: datetime | None = None
) -> Finding:
    """Mark an assessment finding fixed, not applicable (with a justification) or open again."""
    now = now or timezone.now()
    finding = Finding.objects.select_for_update().get(pk=item.finding_id)
    if status not in FindingStatus.values:
        raise ValidationError({"status": [f"{status!r} is not one of {', '.join(FindingStatus.values)}"]})
    if status == FindingStatus.NOT_APPLICABLE and not justification.strip():
        raise ValidationError({"justification": ["say why it does not apply"]})
    if status == finding.status:
        return finding
    if status == FindingStatus.FIXED:
        finding.fixed_at = now
    elif status == FindingStatus.OPEN:
        if finding.status == FindingStatus.FIXED:
            finding.reopen_count += 1
            finding.reopened_at = now
            if get_policy().security.reopen_restarts_sla:
                finding.sla_started_at, finding.due_at = now, due_for(finding.severity, now)
        finding.fixed_at = None
    finding.status = status
    finding.justification = justification if status == FindingStatus.NOT_APPLICABLE else ""
    finding.last_seen_at = now
    finding.save(
        update_fields=[
            "status",
            "fixed_at",
            "justification",
            "reopen_count",
            "reopened_at",
            "last_seen_at",
            "updated_at",
            "sla_started_at",
            "due_at",
        ]
    )
    return finding
