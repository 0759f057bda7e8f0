"""The step-5 gate's organisation-wide criteria: access review in its period, training at target, the security
incident runbook (monitoring's, read through opsgov.evidence_providers); and their metrics, computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group

from opsgov.models import GateStatus
from opsgov.registry import gates, metrics
from opsgov.roles import SECURITY_LEAD, SRE_LEAD
from security import access_reviews, services, training
from security.models import Course
from tests.factories import ServiceFactory
from tests.monitoring.catalog_helpers import make_runbook

from .support import trivy

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def _rows(now: datetime = NOW) -> tuple[Any, dict[str, Any]]:
    result = gates.get("security_operations").evaluate(now=now)
    return result, {row.key: row for row in result.evidence}


@pytest.fixture
def people(make_user: Any) -> dict[str, Any]:
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    services.resolve_asset(name="img", create=True, service=service)
    services.import_scan(report=trivy("app", []), asset_name="img", now=NOW - timedelta(days=1))
    joined = {"date_joined": NOW - timedelta(days=400)}
    return {
        "lead": make_user("lead", SECURITY_LEAD, **joined),
        "lead2": make_user("lead2", SECURITY_LEAD, **joined),
        "sre": make_user("sre", SRE_LEAD, **joined),
    }


def _close_review(people: dict[str, Any], at: datetime) -> Any:
    campaign = access_reviews.open_campaign(
        title=f"Review {at:%Y-%m}", actor=people["lead"], now=at - timedelta(days=5)
    )
    for row in campaign.accounts.all():
        reviewer = people["lead2"] if row.user == people["lead"] else people["lead"]
        access_reviews.decide(row=row, decision="keep", actor=reviewer, now=at - timedelta(days=1))
    return access_reviews.close_campaign(campaign=campaign, actor=people["lead"], now=at)


def _course(*roles: str) -> Course:
    course = Course.objects.create(slug="phishing", title="Phishing", starts_at=NOW - timedelta(days=90))
    course.roles.set(Group.objects.filter(name__in=roles))
    return course


def test_without_reviews_training_or_runbook_it_has_no_evidence(people: dict[str, Any]) -> None:
    result, rows = _rows()
    assert result.status == GateStatus.NO_EVIDENCE
    assert rows["access-review"].status == GateStatus.NO_EVIDENCE
    assert rows["training"].status == GateStatus.NO_EVIDENCE
    assert (rows["incident-runbook"].status, rows["incident-runbook"].label) == (
        GateStatus.NO_EVIDENCE,
        "No security incident runbook (security-incident)",
    )
    assert rows["access-review"].url == "/security/access-reviews/"


def test_it_passes_with_a_recent_review_training_at_target_and_a_reviewed_runbook(people: dict[str, Any]) -> None:
    campaign = _close_review(people, NOW - timedelta(days=10))
    course = _course(SECURITY_LEAD, SRE_LEAD)
    for name in ("lead", "lead2", "sre"):
        training.record_completion(
            course=course, user=people[name], completed_at=NOW - timedelta(days=20), actor=None, now=NOW
        )
    make_runbook("security-incident", reviewed=date(2026, 2, 1))
    result, rows = _rows()
    assert result.status == GateStatus.PASS, result.reason
    assert rows["access-review"].url == f"/security/access-reviews/{campaign.pk}/"
    assert rows["training"].detail == "3 of 3 assignments completed (100 %), 0 overdue."
    assert rows["incident-runbook"].url.endswith("/security-incident/")


def test_a_stale_review_low_training_and_an_overdue_runbook_fail(people: dict[str, Any], make_user: Any) -> None:
    _close_review(people, NOW - timedelta(days=100))  # the quarter passed
    course = _course(SECURITY_LEAD, SRE_LEAD)
    for name in ("lead", "lead2"):
        training.record_completion(
            course=course, user=people[name], completed_at=NOW - timedelta(days=20), actor=None, now=NOW
        )
    make_user("ops", SRE_LEAD, date_joined=NOW - timedelta(days=400))  # 2 of 4 completed: 50 % < 80 %
    make_runbook("security-incident", reviewed=date(2025, 6, 1))
    result, rows = _rows()
    assert result.status == GateStatus.FAIL
    assert rows["access-review"].status == GateStatus.FAIL
    assert rows["training"].label == "Training completion below target (50 % < 80 %)"
    assert rows["training"].url == "/security/training/?overdue=true"
    assert rows["incident-runbook"].status == GateStatus.FAIL
    assert "training completion 50 % below 80 %" in result.reason


def test_an_open_campaign_before_its_deadline_is_at_risk(people: dict[str, Any]) -> None:
    _close_review(people, NOW - timedelta(days=100))
    access_reviews.open_campaign(title="Q1", actor=people["lead"], now=NOW - timedelta(days=2))
    _, rows = _rows()
    assert rows["access-review"].status == GateStatus.AT_RISK
    _, later = _rows(NOW + timedelta(days=40))  # past its 30-day deadline, still open
    assert later["access-review"].status == GateStatus.FAIL


def test_training_and_access_review_metrics(people: dict[str, Any], make_user: Any) -> None:
    course = _course(SECURITY_LEAD, SRE_LEAD)
    training.record_completion(
        course=course, user=people["sre"], completed_at=NOW - timedelta(days=1), actor=None, now=NOW
    )
    make_user("new", SRE_LEAD, date_joined=NOW - timedelta(days=1))  # assigned, pending
    (value,) = [v for v in metrics.get("training_completion").compute(window="30d", now=NOW) if v.scope == "global"]
    assert (value.value, value.details) == (25.0, {"assigned": 4, "completed": 1, "overdue": 2})
    campaign = access_reviews.open_campaign(title="Q1", actor=people["lead"], now=NOW - timedelta(days=3))
    rows = list(campaign.accounts.order_by("account"))  # lead, lead2, new, sre
    access_reviews.decide(row=rows[0], decision="keep", actor=people["lead2"], now=NOW - timedelta(days=1))
    (review,) = metrics.get("access_review_completion").compute(window="30d", now=NOW)
    assert (review.value, review.details) == (25.0, {"rows": 4, "decided": 1, "campaigns": 1})
    assert metrics.get("access_review_completion").meets_target(review.value) is False
