"""Post-incident reviews: required on resolution with a business-day due date, pre-filled timeline,
the draft → in review → published workflow with Tech Lead approval, Markdown export, overdue reviews."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError

from incidents import services
from incidents.models import ActionPriority, Incident, PostIncidentReview, ReviewStatus
from incidents.reviews import services as reviews
from incidents.reviews.selectors import overdue_reviews, review_list
from opsgov.errors import DomainError
from opsgov.roles import SRE_LEAD, TECH_LEAD

from ..factories import ServiceFactory
from .factories import IncidentFactory

pytestmark = pytest.mark.django_db

# 2026-01-08 is a Thursday; the default policy works Monday to Friday 09:00-17:00 UTC.
THURSDAY_15H = datetime(2026, 1, 8, 15, 0, tzinfo=UTC)


@pytest.fixture
def author(make_user: Callable[..., User]) -> User:
    return make_user("author", SRE_LEAD, first_name="Ana", last_name="Ortiz")


@pytest.fixture
def tech_lead(make_user: Callable[..., User]) -> User:
    return make_user("lead", TECH_LEAD, first_name="Lee", last_name="Tran")


def resolved(severity: str, *, at: datetime = THURSDAY_15H, **kwargs: Any) -> Incident:
    """An incident of `severity` triggered an hour before `at` and resolved at `at` (time frozen there)."""
    with time_machine.travel(at, tick=False):
        incident = IncidentFactory.create(severity=severity, triggered_at=at - timedelta(hours=1), **kwargs)
        services.incident_acknowledge(incident=incident, at=at - timedelta(minutes=50))
        return services.incident_resolve(incident=incident, message="Rolled back")


def complete(review: PostIncidentReview, actor: User) -> PostIncidentReview:
    reviews.review_update(
        review=review,
        data={"summary": "Checkout failed.", "impact": "All payments for 1 h.", "root_causes": "A bad deploy."},
        actor=actor,
    )
    reviews.action_item_create(review=review, title="Add a canary stage", priority=ActionPriority.HIGH)
    return PostIncidentReview.objects.get(pk=review.pk)


# --- Required on resolution ------------------------------------------------------------------


def test_resolving_a_sev1_creates_a_draft_review_due_five_business_days_later_across_the_weekend() -> None:
    incident = resolved("SEV-1")

    review = PostIncidentReview.objects.get(incident=incident)
    assert review.status == ReviewStatus.DRAFT
    assert review.author is None
    # Thu 15-17 (2 h) + Fri, Mon, Tue, Wed (4 x 8 h) + Thu 09-15 (6 h) = 40 h = 5 business days.
    assert review.due_at == datetime(2026, 1, 15, 15, 0, tzinfo=UTC)


def test_a_sev3_needs_no_review() -> None:
    incident = resolved("SEV-3")

    assert not PostIncidentReview.objects.filter(incident=incident).exists()


def test_requiring_a_review_again_is_idempotent() -> None:
    incident = resolved("SEV-2")
    first = PostIncidentReview.objects.get(incident=incident)

    again = reviews.require_review(incident=incident)

    assert again == first
    assert PostIncidentReview.objects.filter(incident=incident).count() == 1


def test_resolving_again_after_a_reopen_keeps_the_one_review() -> None:
    incident = resolved("SEV-1")
    with time_machine.travel(THURSDAY_15H + timedelta(hours=1), tick=False):
        services.incident_reopen(incident=incident, reason="Errors are back")
        services.incident_resolve(incident=incident)

    review = PostIncidentReview.objects.get(incident=incident)
    assert review.due_at == datetime(2026, 1, 15, 15, 0, tzinfo=UTC)


def test_the_timeline_is_prefilled_from_the_incident_timeline_in_utc() -> None:
    incident = resolved("SEV-1", title="Checkout down")

    lines = PostIncidentReview.objects.get(incident=incident).timeline.splitlines()

    assert lines[0].startswith("2026-01-08 14:00:00 UTC — Triggered — Triggered")
    assert lines[1] == "2026-01-08 14:10:00 UTC — Status change — Acknowledged"
    assert lines[-1] == "2026-01-08 15:00:00 UTC — Status change — Rolled back"
    assert len(lines) == 3


def test_a_review_started_by_hand_before_resolution_gets_its_due_date_when_resolved(author: User) -> None:
    with time_machine.travel(THURSDAY_15H - timedelta(minutes=30), tick=False):
        incident = IncidentFactory.create(severity="SEV-4", triggered_at=THURSDAY_15H - timedelta(hours=1))
        review = reviews.review_start(incident=incident, actor=author)
    assert review.due_at is None
    assert review.author == author

    with time_machine.travel(THURSDAY_15H, tick=False):
        services.incident_resolve(incident=incident)

    review.refresh_from_db()
    assert review.due_at == datetime(2026, 1, 15, 15, 0, tzinfo=UTC)


def test_an_incident_has_at_most_one_review(author: User) -> None:
    incident = resolved("SEV-1")

    with pytest.raises(DomainError) as excinfo:
        reviews.review_start(incident=incident, actor=author)
    assert excinfo.value.field == "incident"


# --- Workflow ------------------------------------------------------------------------------


def test_submitting_needs_summary_impact_root_causes_and_an_action_item(author: User) -> None:
    review = PostIncidentReview.objects.get(incident=resolved("SEV-1"))

    with pytest.raises(ValidationError) as excinfo:
        reviews.review_submit(review=review, actor=author)

    assert set(excinfo.value.message_dict) == {"summary", "impact", "root_causes", "action_items"}
    review.refresh_from_db()
    assert review.status == ReviewStatus.DRAFT


def test_whitespace_is_not_an_answer(author: User) -> None:
    review = complete(PostIncidentReview.objects.get(incident=resolved("SEV-1")), author)
    reviews.review_update(review=review, data={"impact": "   "}, actor=author)

    with pytest.raises(ValidationError) as excinfo:
        reviews.review_submit(review=review, actor=author)
    assert set(excinfo.value.message_dict) == {"impact"}


def test_a_complete_draft_is_submitted_and_the_first_editor_becomes_its_author(author: User) -> None:
    review = complete(PostIncidentReview.objects.get(incident=resolved("SEV-1")), author)

    with time_machine.travel(THURSDAY_15H + timedelta(days=1), tick=False):
        review = reviews.review_submit(review=review, actor=author)

    assert review.status == ReviewStatus.IN_REVIEW
    assert review.submitted_at == THURSDAY_15H + timedelta(days=1)
    assert review.author == author


def test_a_tech_lead_approves_and_publishes_with_who_and_when(author: User, tech_lead: User) -> None:
    review = complete(PostIncidentReview.objects.get(incident=resolved("SEV-1")), author)
    reviews.review_submit(review=review, actor=author)

    with time_machine.travel(THURSDAY_15H + timedelta(days=2), tick=False):
        review = reviews.review_approve(review=review, actor=tech_lead)

    review.refresh_from_db()
    assert review.status == ReviewStatus.PUBLISHED
    assert review.approved_by == tech_lead
    assert review.approved_at == THURSDAY_15H + timedelta(days=2)
    assert review.published_at == review.approved_at


def test_a_superuser_may_approve(author: User, make_user: Callable[..., User]) -> None:
    review = complete(PostIncidentReview.objects.get(incident=resolved("SEV-1")), author)
    reviews.review_submit(review=review, actor=author)

    review = reviews.review_approve(review=review, actor=make_user("root", is_superuser=True))

    assert review.status == ReviewStatus.PUBLISHED


def test_someone_without_the_tech_lead_role_cannot_approve(author: User, make_user: Callable[..., User]) -> None:
    review = complete(PostIncidentReview.objects.get(incident=resolved("SEV-1")), author)
    reviews.review_submit(review=review, actor=author)

    with pytest.raises(PermissionDenied):
        reviews.review_approve(review=review, actor=make_user("other_sre", SRE_LEAD))
    review.refresh_from_db()
    assert review.status == ReviewStatus.IN_REVIEW
    assert review.approved_by is None


def test_the_author_cannot_approve_their_own_review(make_user: Callable[..., User]) -> None:
    lead_author = make_user("lead_author", SRE_LEAD, TECH_LEAD)
    review = complete(PostIncidentReview.objects.get(incident=resolved("SEV-1")), lead_author)
    reviews.review_submit(review=review, actor=lead_author)

    with pytest.raises(PermissionDenied, match="author"):
        reviews.review_approve(review=review, actor=lead_author)
    review.refresh_from_db()
    assert review.status == ReviewStatus.IN_REVIEW


def test_a_draft_cannot_be_approved(author: User, tech_lead: User) -> None:
    review = complete(PostIncidentReview.objects.get(incident=resolved("SEV-1")), author)

    with pytest.raises(DomainError, match="Submit"):
        reviews.review_approve(review=review, actor=tech_lead)


def test_a_tech_lead_can_send_a_review_back_to_draft(author: User, tech_lead: User) -> None:
    review = complete(PostIncidentReview.objects.get(incident=resolved("SEV-1")), author)
    reviews.review_submit(review=review, actor=author)

    review = reviews.review_return_to_draft(review=review, actor=tech_lead)

    assert review.status == ReviewStatus.DRAFT
    assert review.submitted_at is None


def test_a_published_review_is_final(author: User, tech_lead: User) -> None:
    review = complete(PostIncidentReview.objects.get(incident=resolved("SEV-1")), author)
    reviews.review_submit(review=review, actor=author)
    reviews.review_approve(review=review, actor=tech_lead)

    with pytest.raises(DomainError, match="published"):
        reviews.review_update(review=review, data={"summary": "Rewritten"}, actor=author)
    with pytest.raises(DomainError, match="published"):
        reviews.review_submit(review=review, actor=author)
    with pytest.raises(DomainError, match="published"):
        reviews.review_approve(review=review, actor=tech_lead)
    with pytest.raises(DomainError, match="published"):
        reviews.action_item_create(review=review, title="Late addition")
    review.refresh_from_db()
    assert review.summary == "Checkout failed."


def test_only_the_sections_can_be_edited(author: User) -> None:
    review = PostIncidentReview.objects.get(incident=resolved("SEV-1"))

    with pytest.raises(DomainError, match="status"):
        reviews.review_update(review=review, data={"status": "published"}, actor=author)


# --- Markdown ------------------------------------------------------------------------------


def test_the_markdown_export_follows_the_post_mortem_structure(author: User, tech_lead: User) -> None:
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    incident = resolved("SEV-1", title="Checkout down", service=service)
    review = complete(PostIncidentReview.objects.get(incident=incident), author)
    reviews.review_update(review=review, data={"what_went_well": "Fast rollback."}, actor=author)
    reviews.action_item_create(
        review=review, title="Alert on 5xx | per region", owner=tech_lead, due_date=date(2026, 2, 1)
    )
    reviews.review_submit(review=review, actor=author)
    with time_machine.travel(datetime(2026, 1, 12, 10, 30, tzinfo=UTC), tick=False):
        reviews.review_approve(review=review, actor=tech_lead)

    text = reviews.review_markdown(PostIncidentReview.objects.get(pk=review.pk))

    assert text.startswith(f"# Post-incident review: INC-{incident.pk} Checkout down\n")
    assert "- **Service:** Checkout" in text
    assert "- **Severity:** SEV-1" in text
    assert "- **Status:** Published" in text
    assert "- **Resolved:** 2026-01-08 15:00 UTC" in text
    assert "- **Review due:** 2026-01-15 15:00 UTC" in text
    assert "- **Author:** Ana Ortiz" in text
    assert "- **Approved by:** Lee Tran on 2026-01-12 10:30 UTC" in text
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Summary",
        "## Impact",
        "## Timeline",
        "## Root causes",
        "## Contributing factors",
        "## What went well",
        "## What went wrong",
        "## Action items",
    ]
    assert "## Summary\n\nCheckout failed.\n" in text
    assert "## Contributing factors\n\n_Not written._\n" in text
    assert "2026-01-08 15:00:00 UTC — Status change — Rolled back" in text
    assert "| # | Action | Owner | Priority | Due | Status |" in text
    assert "| 1 | Add a canary stage | — | High | — | Open |" in text
    assert "| 2 | Alert on 5xx \\| per region | Lee Tran | Medium | 2026-02-01 | Open |" in text


def test_a_review_without_action_items_says_so() -> None:
    review = PostIncidentReview.objects.get(incident=resolved("SEV-1"))

    assert reviews.review_markdown(review).endswith("## Action items\n\n_None._\n")


# --- Overdue -----------------------------------------------------------------------------


def test_a_review_is_overdue_once_its_due_time_passes_until_published(author: User, tech_lead: User) -> None:
    review = PostIncidentReview.objects.get(incident=resolved("SEV-1"))
    due = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)

    with time_machine.travel(due - timedelta(minutes=1), tick=False):
        assert list(overdue_reviews()) == []
        assert review_list().get(pk=review.pk).overdue is False  # type: ignore[attr-defined]
    with time_machine.travel(due + timedelta(minutes=1), tick=False):
        assert list(overdue_reviews()) == [review]
        assert review_list().get(pk=review.pk).overdue is True  # type: ignore[attr-defined]
        assert review.is_overdue()
        complete(review, author)
        reviews.review_submit(review=review, actor=author)
        assert list(overdue_reviews()) == [review]  # in review is not done yet
        reviews.review_approve(review=review, actor=tech_lead)
        assert list(overdue_reviews()) == []
