"""Live evidence the incidents area publishes for compliance controls (opsgov.evidence_providers).

``incidents.review_published``: the latest published post-incident review (of a service, when
the scope names its slug), current for a quarter after its publication.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from opsgov.evidence_providers import EvidenceProvider, EvidenceRecord, providers

from .models import PostIncidentReview, ReviewStatus

QUARTER = timedelta(days=92)


def _latest_published_review(*, scope: str, now: datetime) -> EvidenceRecord | None:
    reviews = PostIncidentReview.objects.filter(published_at__isnull=False, published_at__lte=now)
    if scope:
        reviews = reviews.filter(incident__service__slug=scope)
    review = reviews.select_related("incident").order_by("-published_at", "-pk").first()
    if review is None or review.published_at is None:
        return None
    return EvidenceRecord(
        label=f"Review of incident #{review.incident.pk} published",
        recorded_at=review.published_at,
        url=review.get_absolute_url(),
        supports=review.status == ReviewStatus.PUBLISHED,
    )


providers.register(
    EvidenceProvider(
        key="incidents.review_published",
        title="Post-incident review published in the last quarter",
        latest=_latest_published_review,
        max_age=lambda: QUARTER,
        scope_help="A service slug (reviews of its incidents), or empty for any service.",
    )
)
