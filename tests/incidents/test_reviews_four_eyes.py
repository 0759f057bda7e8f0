"""Four eyes that hold (issue 12): whoever wrote or changed the text of a review's revision cannot approve
it; a published review cannot change anywhere (API, pages, admin, services); a correction is a new revision
that goes through submission and approval again while the published text, and the gates, stay as they are."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from auditlog.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from incidents import services
from incidents.gates import ContinuousImprovementGate, IncidentManagementGate
from incidents.models import PostIncidentReview, ReviewEdit, ReviewRevision, ReviewStatus
from incidents.reviews import services as reviews
from incidents.reviews.selectors import overdue_reviews
from opsgov.roles import TECH_LEAD

from .factories import IncidentFactory

pytestmark = pytest.mark.django_db

RESOLVED_AT = datetime(2026, 1, 8, 15, 0, tzinfo=UTC)  # a Thursday: due the next Thursday 15:00 UTC
TEXT = {"summary": "Checkout failed.", "impact": "All payments for 1 h.", "root_causes": "A bad deploy."}


@pytest.fixture
def leads(make_user: Callable[..., User]) -> dict[str, User]:
    """Three Tech Leads: A writes, B rewrites, C is the independent approver."""
    return {name: make_user(f"lead_{name.lower()}", TECH_LEAD) for name in "ABC"}


def resolved_sev1(title: str = "Checkout down") -> Any:
    with time_machine.travel(RESOLVED_AT, tick=False):
        incident = IncidentFactory.create(severity="SEV-1", title=title, triggered_at=RESOLVED_AT - timedelta(hours=1))
        return services.incident_resolve(incident=incident)


def published(author: User, approver: User, title: str = "Checkout down") -> PostIncidentReview:
    """A review written and submitted by `author`, approved by `approver` (through the services)."""
    review = PostIncidentReview.objects.get(incident=resolved_sev1(title))
    reviews.review_update(review=review, data=TEXT, actor=author)
    reviews.action_item_create(review=review, title="Add a canary stage", actor=author)
    reviews.review_submit(review=review, actor=author)
    return reviews.review_approve(review=review, actor=approver)


def detail(response: Any) -> str:
    return str(response.json()["detail"])


# --- The attack of the issue, through the real API ---------------------------------------------


def test_a_tech_lead_who_rewrote_a_review_cannot_approve_it_but_another_can(
    client_for: Callable[[User], APIClient], leads: dict[str, User]
) -> None:
    incident = IncidentFactory.create(severity="SEV-2")
    a, b, c = (client_for(leads[name]) for name in "ABC")

    # Tech Lead A writes and submits.
    pk = a.post("/api/v1/reviews/", {"incident": incident.pk}, format="json").json()["id"]
    assert a.patch(f"/api/v1/reviews/{pk}/", TEXT, format="json").status_code == 200
    assert a.post("/api/v1/action-items/", {"review": pk, "title": "Add a canary"}, format="json").status_code == 201
    assert a.post(f"/api/v1/reviews/{pk}/submit/").json()["status"] == "in_review"

    # Tech Lead B rewrites every section, then approves: refused.
    rewrite = {field: f"B's version of {field}" for field in reviews.EDITABLE_FIELDS}
    patched = b.patch(f"/api/v1/reviews/{pk}/", rewrite, format="json")
    assert patched.status_code == 200
    assert patched.json()["status"] == "in_review"  # still in review, with B on the record
    assert patched.json()["content_editors"] == ["lead_a", "lead_b"]
    refused = b.post(f"/api/v1/reviews/{pk}/approve/")
    assert refused.status_code == 403
    assert "changed the text of revision 1" in detail(refused)
    assert PostIncidentReview.objects.get(pk=pk).status == ReviewStatus.IN_REVIEW

    # A, the author, cannot either.
    assert "author" in detail(a.post(f"/api/v1/reviews/{pk}/approve/"))

    # Tech Lead C, who changed nothing, approves: published with B's text.
    approved = c.post(f"/api/v1/reviews/{pk}/approve/")
    assert approved.status_code == 200, approved.json()
    body = approved.json()
    assert (body["status"], body["approved_by"], body["revision"]) == ("published", "lead_c", 1)
    assert body["summary"] == "B's version of summary"
    assert [(row["number"], row["status"], row["editors"]) for row in body["revisions"]] == [
        (1, "published", ["lead_a", "lead_b"])
    ]
    edits = ReviewEdit.objects.filter(review_id=pk, editor=leads["B"])
    assert list(edits.values_list("revision", "fields")) == [(1, list(reviews.EDITABLE_FIELDS))]


def test_an_edit_before_submission_also_bars_the_editor(leads: dict[str, User]) -> None:
    review = PostIncidentReview.objects.get(incident=resolved_sev1())
    reviews.review_update(review=review, data=TEXT, actor=leads["A"])
    reviews.review_update(review=review, data={"what_went_well": "Fast rollback."}, actor=leads["B"])
    reviews.action_item_create(review=review, title="Add a canary stage")
    reviews.review_submit(review=review, actor=leads["A"])

    with pytest.raises(PermissionDenied, match="changed the text"):
        reviews.review_approve(review=review, actor=leads["B"])
    assert reviews.review_approve(review=review, actor=leads["C"]).status == ReviewStatus.PUBLISHED


def test_changing_the_action_items_of_a_review_in_review_bars_the_editor_but_progress_does_not(
    client_for: Callable[[User], APIClient], leads: dict[str, User]
) -> None:
    review = PostIncidentReview.objects.get(incident=resolved_sev1())
    reviews.review_update(review=review, data=TEXT, actor=leads["A"])
    item = reviews.action_item_create(review=review, title="Add a canary stage", actor=leads["A"])
    reviews.review_submit(review=review, actor=leads["A"])
    b, c = client_for(leads["B"]), client_for(leads["C"])

    # C only moves the item along: progress, not text. B adds one of their own (and rewords it).
    progress = c.patch(f"/api/v1/action-items/{item.pk}/", {"status": "in_progress"}, format="json")
    assert progress.status_code == 200
    added = b.post("/api/v1/action-items/", {"review": review.pk, "title": "Nothing to do"}, format="json")
    assert added.status_code == 201
    reworded = b.patch(f"/api/v1/action-items/{added.json()['id']}/", {"title": "Nothing left to do"}, format="json")
    assert reworded.status_code == 200
    # Items are evidence: none is deleted, a mistaken one is closed as won't do.
    assert b.delete(f"/api/v1/action-items/{item.pk}/").status_code == 405

    assert b.post(f"/api/v1/reviews/{review.pk}/approve/").status_code == 403
    assert b.get(f"/api/v1/reviews/{review.pk}/").json()["content_editors"] == ["lead_a", "lead_b"]
    assert c.post(f"/api/v1/reviews/{review.pk}/approve/").status_code == 200


def test_saving_the_same_text_again_is_no_edit(leads: dict[str, User]) -> None:
    review = PostIncidentReview.objects.get(incident=resolved_sev1())
    reviews.review_update(review=review, data=TEXT, actor=leads["A"])
    reviews.action_item_create(review=review, title="Add a canary stage")
    reviews.review_submit(review=review, actor=leads["A"])

    reviews.review_update(review=review, data=TEXT, actor=leads["B"])  # e.g. a page saved unchanged

    assert not ReviewEdit.objects.filter(editor=leads["B"]).exists()
    assert reviews.review_approve(review=review, actor=leads["B"]).status == ReviewStatus.PUBLISHED


def test_the_page_tells_an_editor_they_cannot_approve(client: Client, leads: dict[str, User]) -> None:
    review = PostIncidentReview.objects.get(incident=resolved_sev1())
    reviews.review_update(review=review, data=TEXT, actor=leads["A"])
    reviews.action_item_create(review=review, title="Add a canary stage")
    reviews.review_submit(review=review, actor=leads["A"])
    reviews.review_update(review=review, data={"summary": "Rewritten by B."}, actor=leads["B"])
    client.force_login(leads["B"])

    page = client.get(review.get_absolute_url()).content.decode()
    response = client.post(reverse("review-approve", kwargs={"pk": review.pk}), follow=True)

    assert "Approve and publish" not in page
    assert "you cannot approve it" in page
    assert "Could not approve the review: You changed the text of revision 1" in response.content.decode()
    review.refresh_from_db()
    assert review.status == ReviewStatus.IN_REVIEW


# --- Published is final, everywhere --------------------------------------------------------------


def test_the_api_answers_409_to_a_change_of_a_published_review(
    client_for: Callable[[User], APIClient], leads: dict[str, User]
) -> None:
    review = published(leads["A"], leads["C"])

    response = client_for(leads["B"]).patch(f"/api/v1/reviews/{review.pk}/", {"summary": "Edited"}, format="json")

    assert response.status_code == 409
    assert "is published; it can no longer change" in detail(response)
    assert f"/api/v1/reviews/{review.pk}/correction/" in detail(response)
    review.refresh_from_db()
    assert review.summary == TEXT["summary"]
    assert not ReviewEdit.objects.filter(editor=leads["B"]).exists()


def test_the_services_refuse_a_change_of_a_published_review(leads: dict[str, User]) -> None:
    review = published(leads["A"], leads["C"])

    with pytest.raises(reviews.ReviewFinalError):
        reviews.review_update(review=review, data={"summary": "From the shell"}, actor=None)
    with pytest.raises(reviews.ReviewFinalError):
        reviews.review_submit(review=review, actor=leads["A"])
    review.refresh_from_db()
    assert review.summary == TEXT["summary"]


def test_the_admin_shows_a_published_review_read_only_and_refuses_a_post(
    client: Client, admin_user: User, leads: dict[str, User]
) -> None:
    review = published(leads["A"], leads["C"])
    url = reverse("admin:incidents_postincidentreview_change", args=[review.pk])
    client.force_login(admin_user)

    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="_save"' not in body and 'name="_continue"' not in body
    assert 'name="summary"' not in body  # shown as text, not as a field
    assert TEXT["summary"] in body

    posted = client.post(url, {"summary": "Edited in the admin", "impact": "x", "root_causes": "y"})
    assert posted.status_code == 403
    review.refresh_from_db()
    assert review.summary == TEXT["summary"]


def test_an_admin_edit_of_an_unpublished_review_is_on_the_four_eyes_record(
    client: Client, make_user: Callable[..., User], leads: dict[str, User]
) -> None:
    chief = make_user("chief", TECH_LEAD, is_staff=True, is_superuser=True)
    review = PostIncidentReview.objects.get(incident=resolved_sev1())
    reviews.review_update(review=review, data=TEXT, actor=leads["A"])
    reviews.action_item_create(review=review, title="Add a canary stage")
    reviews.review_submit(review=review, actor=leads["A"])
    url = reverse("admin:incidents_postincidentreview_change", args=[review.pk])
    client.force_login(chief)
    review.refresh_from_db()
    form = {name: getattr(review, name) for name in reviews.EDITABLE_FIELDS}
    form |= {"summary": "Rewritten in the admin.", "due_at_0": "2026-01-15", "due_at_1": "15:00:00"}
    form |= {"action_items-TOTAL_FORMS": "1", "action_items-INITIAL_FORMS": "1"}
    form |= {"action_items-MIN_NUM_FORMS": "0", "action_items-MAX_NUM_FORMS": "1000"}
    item = review.action_items.get()
    form |= {
        "action_items-0-id": str(item.pk),
        "action_items-0-review": str(review.pk),
        "action_items-0-title": item.title,
        "action_items-0-priority": item.priority,
        "action_items-0-status": item.status,
    }
    form |= {"revisions-TOTAL_FORMS": "0", "revisions-INITIAL_FORMS": "0"}
    form |= {"revisions-MIN_NUM_FORMS": "0", "revisions-MAX_NUM_FORMS": "1000"}

    response = client.post(url, form)

    assert response.status_code == 302, response.content.decode()[:3000]
    review.refresh_from_db()
    assert review.summary == "Rewritten in the admin."
    assert list(ReviewEdit.objects.filter(editor=chief).values_list("revision", "fields")) == [(1, ["summary"])]
    with pytest.raises(PermissionDenied, match="changed the text"):
        reviews.review_approve(review=review, actor=chief)


# --- Corrections ---------------------------------------------------------------------------------


def test_a_correction_goes_through_submission_and_four_eyes_again_over_the_api(
    client_for: Callable[[User], APIClient], leads: dict[str, User]
) -> None:
    review = published(leads["A"], leads["C"])
    a, b, c = (client_for(leads[name]) for name in "ABC")
    base = f"/api/v1/reviews/{review.pk}"

    assert b.get(f"{base}/correction/").status_code == 404  # none under way
    started = b.post(f"{base}/correction/", {"reason": "The root cause was wrong."}, format="json")
    assert started.status_code == 201, started.json()
    assert (started.json()["number"], started.json()["status"], started.json()["author"]) == (2, "draft", "lead_b")
    assert started.json()["summary"] == TEXT["summary"]  # a copy of the published text
    assert b.post(f"{base}/correction/", {}, format="json").status_code == 400  # one at a time

    edited = b.patch(f"{base}/correction/", {"root_causes": "An expired certificate."}, format="json")
    assert edited.json()["editors"] == ["lead_b"]

    # Meanwhile the review stays published with its text.
    during = a.get(f"{base}/").json()
    assert (during["status"], during["revision"], during["root_causes"]) == ("published", 1, "A bad deploy.")
    assert (during["correction"]["number"], during["correction"]["status"]) == (2, "draft")
    assert a.patch(f"{base}/", {"summary": "x"}, format="json").status_code == 409

    assert "Submit the correction" in str(c.post(f"{base}/correction/approve/").json())
    submitted = b.post(f"{base}/correction/submit/")
    assert submitted.json()["status"] == "in_review"

    # B started it: refused. A edits it while in review: A is now barred too. C approves.
    assert b.post(f"{base}/correction/approve/").status_code == 403
    assert a.patch(f"{base}/correction/", {"impact": "Payments for 70 min."}, format="json").status_code == 200
    refused = a.post(f"{base}/correction/approve/")
    assert refused.status_code == 403 and "revision 2" in detail(refused)
    approved = c.post(f"{base}/correction/approve/")
    assert approved.status_code == 200, approved.json()

    body = approved.json()
    assert (body["status"], body["revision"], body["approved_by"]) == ("published", 2, "lead_c")
    assert (body["root_causes"], body["impact"]) == ("An expired certificate.", "Payments for 70 min.")
    assert body["correction"] is None
    assert [(row["number"], row["author"], row["approved_by"], row["editors"]) for row in body["revisions"]] == [
        (1, "lead_a", "lead_c", ["lead_a"]),
        (2, "lead_b", "lead_c", ["lead_b", "lead_a"]),
    ]
    history = a.get(f"{base}/revisions/").json()
    assert [row["root_causes"] for row in history] == ["A bad deploy.", "An expired certificate."]
    assert history[1]["reason"] == "The root cause was wrong."
    assert "- **Revision:** 2 (corrected" in a.get(f"{base}/markdown/").content.decode()
    review.refresh_from_db()
    first = review.revisions.get(number=1)
    assert review.published_at == first.published_at  # the first publication stays the review's
    assert a.patch(f"{base}/", {"summary": "x"}, format="json").status_code == 409  # published again


def test_a_correction_cannot_start_before_publication(leads: dict[str, User]) -> None:
    review = PostIncidentReview.objects.get(incident=resolved_sev1())
    with pytest.raises(reviews.DomainError, match="Only a published review"):
        reviews.review_correction_start(review=review, actor=leads["A"])
    with pytest.raises(reviews.NoCorrectionError):
        reviews.review_correction_update(review=review, data={"summary": "x"}, actor=leads["A"])


def test_a_correction_on_the_pages(client: Client, leads: dict[str, User]) -> None:
    review = published(leads["A"], leads["C"])
    client.force_login(leads["B"])

    page = client.get(review.get_absolute_url()).content.decode()
    assert "Start a correction" in page and 'name="review-summary"' not in page
    started = client.post(reverse("review-correction-start", kwargs={"pk": review.pk}), {"reason": "Wrong cause"})
    assert started.status_code == 302 and started["Location"] == reverse("review-correction", kwargs={"pk": review.pk})
    form = {f"review-{name}": getattr(review, name) for name in reviews.EDITABLE_FIELDS}
    form |= {"review-root_causes": "An expired certificate.", "intent": "submit"}
    submitted = client.post(reverse("review-correction", kwargs={"pk": review.pk}), form, follow=True)
    assert "Correction submitted" in submitted.content.decode()
    assert "you cannot approve it" in submitted.content.decode()

    review_page = client.get(review.get_absolute_url()).content.decode()
    assert "Correction (revision 2) under way" in review_page
    assert "A bad deploy." in review_page  # the published text stays visible

    client.force_login(leads["A"])
    approved = client.post(reverse("review-correction-approve", kwargs={"pk": review.pk}), follow=True)
    body = approved.content.decode()
    assert "Correction approved and published." in body
    assert "An expired certificate." in body
    assert "Text of revision 1" in body  # the history keeps the earlier text
    review.refresh_from_db()
    assert (review.revision, review.approved_by) == (2, leads["A"])


def test_gate_and_metric_figures_do_not_move_during_a_correction(leads: dict[str, User]) -> None:
    """By hand: two SEV-1 reviews due 2026-01-15 15:00; one published, one left a draft.

    At 2026-01-20: one review overdue (the draft), one submitted review with its one action item.
    """
    done = published(leads["A"], leads["C"], title="Checkout down")
    late = PostIncidentReview.objects.get(incident=resolved_sev1("Search slow"))
    reviews.action_item_create(review=late, title="Index the catalogue")
    now = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)

    def figures() -> tuple[list[int], list[str], object, list[str]]:
        management = IncidentManagementGate().evaluate(now=now)
        improvement = ContinuousImprovementGate().evaluate(now=now)
        return (
            [review.pk for review in overdue_reviews(now=now)],
            [row.label for row in management.evidence if row.key.startswith("review_overdue:")],
            improvement.status,
            [row.label for row in improvement.evidence],
        )

    before = figures()
    assert before[0] == [late.pk]
    assert before[1] == [f"Review of {late.incident.public_id} overdue"]
    assert "All 1 submitted reviews have action items" in before[3]

    reviews.review_correction_start(review=done, actor=leads["B"])
    reviews.review_correction_update(review=done, data={"summary": ""}, actor=leads["B"])
    assert figures() == before
    reviews.review_correction_update(review=done, data={"summary": "Fixed."}, actor=leads["B"])
    reviews.review_correction_submit(review=done, actor=leads["B"])
    assert figures() == before
    reviews.review_correction_approve(review=done, actor=leads["A"])
    assert figures() == before


def test_edits_submissions_approvals_and_corrections_are_in_the_audit_log(leads: dict[str, User]) -> None:
    review = published(leads["A"], leads["C"])
    reviews.review_correction_start(review=review, actor=leads["B"])
    reviews.review_correction_update(review=review, data={"summary": "Fixed."}, actor=leads["B"])
    reviews.review_correction_submit(review=review, actor=leads["B"])
    reviews.review_correction_approve(review=review, actor=leads["A"])

    def changes(model: type[Any]) -> list[dict[str, Any]]:
        kind = ContentType.objects.get_for_model(model)
        return [entry.changes_dict for entry in LogEntry.objects.filter(content_type=kind).order_by("timestamp", "id")]

    review_changes = changes(PostIncidentReview)
    assert any(change.get("status") == ["draft", "in_review"] for change in review_changes)  # submitted
    assert any(change.get("status") == ["in_review", "published"] for change in review_changes)  # approved
    assert any(change.get("revision") == ["1", "2"] for change in review_changes)  # the correction published
    revision_changes = changes(ReviewRevision)
    assert any(change.get("status") == ["draft", "in_review"] for change in revision_changes)
    assert any(change.get("status") == ["in_review", "published"] for change in revision_changes)
    # A's text and action item (revision 1), B's correction (revision 2).
    assert len(changes(ReviewEdit)) == ReviewEdit.objects.filter(review=review).count() == 3
