"""A gate whose criteria all found nothing to judge reports "no evidence", never a pass without rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from incidents import services
from incidents.gates import ContinuousImprovementGate
from incidents.models import ActionItem, ActionStatus, PostIncidentReview, ReviewStatus
from incidents.reviews import services as reviews
from opsgov.models import GateStatus

from ..factories import ServiceFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_items_of_a_draft_review_all_closed_long_ago_leave_nothing_to_judge() -> None:
    with time_machine.travel(NOW - timedelta(days=60), tick=False):
        sev1 = services.incident_create(
            title="Errors",
            service=ServiceFactory.create(slug="checkout"),
            severity="SEV-1",
            triggered_at=NOW - timedelta(days=61),
        )
        services.incident_resolve(incident=sev1, at=sev1.triggered_at + timedelta(hours=1))
        review = PostIncidentReview.objects.get(incident=sev1)
        item = reviews.action_item_create(title="Fix it", review=review, due_date=date(2026, 10, 1))
        reviews.action_item_close(item=item)
    assert PostIncidentReview.objects.get().status == ReviewStatus.DRAFT
    assert ActionItem.objects.get().status == ActionStatus.DONE  # closed 60 days ago: not "being closed" now
    result = ContinuousImprovementGate().evaluate(now=NOW)
    assert result.status == GateStatus.NO_EVIDENCE
    assert result.reason == "No evidence: no check found anything to judge."
    assert result.evidence == []
