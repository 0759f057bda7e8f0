"""Reviews over the API and on the pages: permissions (401/403), reading, editing with inline action
items, submit errors naming the fields, Tech Lead approval, edits refused after publishing, export."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from incidents import services
from incidents.models import ActionItem, ActionStatus, Incident, PostIncidentReview, ReviewStatus
from incidents.reviews import services as reviews
from opsgov.roles import SECURITY_LEAD, SRE_LEAD, TECH_LEAD

from .factories import IncidentFactory

pytestmark = pytest.mark.django_db

RESOLVED_AT = datetime(2026, 1, 8, 15, 0, tzinfo=UTC)  # a Thursday; due the next Thursday 15:00


@pytest.fixture
def sre(make_user: Callable[..., User]) -> User:
    return make_user("sre", SRE_LEAD)


@pytest.fixture
def lead(make_user: Callable[..., User]) -> User:
    return make_user("lead", TECH_LEAD)


@pytest.fixture
def review() -> PostIncidentReview:
    with time_machine.travel(RESOLVED_AT, tick=False):
        incident = IncidentFactory.create(
            severity="SEV-1", title="Checkout down", triggered_at=RESOLVED_AT - timedelta(hours=1)
        )
        services.incident_resolve(incident=incident)
    return PostIncidentReview.objects.get(incident=incident)


def written(review: PostIncidentReview, author: User) -> PostIncidentReview:
    reviews.review_update(review=review, data={"summary": "S", "impact": "I", "root_causes": "R"}, actor=author)
    reviews.action_item_create(review=review, title="Add a canary")
    return review


def text(response: HttpResponseBase) -> str:
    assert isinstance(response, HttpResponse)
    return response.content.decode()


def fields_of(response: Any) -> set[str]:
    assert response.status_code == 400, response.content
    return {error["field"] for error in response.json()["errors"]}


# --- API -----------------------------------------------------------------------------------


def test_the_api_needs_a_token_and_a_role(
    api_client: APIClient, client_for: Callable[[User], APIClient], make_user: Callable[..., User], review: Any
) -> None:
    assert api_client.get("/api/v1/reviews/").status_code == 401
    assert api_client.post(f"/api/v1/reviews/{review.pk}/approve/").status_code == 401
    outsider = client_for(make_user("outsider"))
    assert outsider.get("/api/v1/reviews/").status_code == 403
    assert outsider.get(f"/api/v1/reviews/{review.pk}/markdown/").status_code == 403


def test_it_lists_and_filters_reviews_with_the_overdue_flag(
    client_for: Callable[[User], APIClient], sre: User, review: PostIncidentReview
) -> None:
    other = IncidentFactory.create(severity="SEV-4")
    reviews.review_start(incident=other, actor=sre)
    api = client_for(sre)

    with time_machine.travel(datetime(2026, 1, 16, tzinfo=UTC)):
        body = api.get("/api/v1/reviews/").json()
        overdue = api.get("/api/v1/reviews/", {"overdue": "true"}).json()
    assert body["count"] == 2
    assert [row["incident"] for row in overdue["results"]] == [review.incident_id]
    assert overdue["results"][0]["overdue"] is True
    assert overdue["results"][0]["due_at"] == "2026-01-15T15:00:00Z"
    drafts = api.get("/api/v1/reviews/", {"status": "published"}).json()
    assert drafts["count"] == 0


def test_start_edit_submit_and_approve_over_the_api(
    client_for: Callable[[User], APIClient], sre: User, lead: User
) -> None:
    incident = IncidentFactory.create(severity="SEV-3")
    api = client_for(sre)

    started = api.post("/api/v1/reviews/", {"incident": incident.pk}, format="json")
    assert started.status_code == 201, started.json()
    pk = started.json()["id"]
    assert started.json()["author"] == "sre"
    assert "Triggered" in started.json()["timeline"]
    assert fields_of(api.post("/api/v1/reviews/", {"incident": incident.pk}, format="json")) == {"incident"}

    assert fields_of(api.post(f"/api/v1/reviews/{pk}/submit/")) == {"summary", "impact", "root_causes", "action_items"}

    patched = api.patch(f"/api/v1/reviews/{pk}/", {"summary": "S", "impact": "I", "root_causes": "R"}, format="json")
    assert patched.status_code == 200
    item = api.post("/api/v1/action-items/", {"review": pk, "title": "Add a canary"}, format="json")
    assert item.status_code == 201, item.json()
    assert item.json()["incident"] == incident.pk
    submitted = api.post(f"/api/v1/reviews/{pk}/submit/")
    assert submitted.status_code == 200
    assert submitted.json()["status"] == "in_review"
    assert [row["title"] for row in submitted.json()["action_items"]] == ["Add a canary"]

    assert api.post(f"/api/v1/reviews/{pk}/approve/").status_code == 403  # an SRE Lead, not a Tech Lead
    approved = client_for(lead).post(f"/api/v1/reviews/{pk}/approve/")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["status"] == "published"
    assert approved.json()["approved_by"] == "lead"
    assert approved.json()["approved_at"] is not None

    refused = api.patch(f"/api/v1/reviews/{pk}/", {"summary": "Rewritten"}, format="json")
    assert refused.status_code == 409
    assert "published" in refused.json()["detail"]
    assert f"/api/v1/reviews/{pk}/correction/" in refused.json()["detail"]
    assert PostIncidentReview.objects.get(pk=pk).summary == "S"
    assert fields_of(api.post("/api/v1/action-items/", {"review": pk, "title": "Late"}, format="json")) == {"status"}


def test_the_author_gets_403_when_approving_their_own_review(
    client_for: Callable[[User], APIClient], make_user: Callable[..., User], review: PostIncidentReview
) -> None:
    both = make_user("both", SRE_LEAD, TECH_LEAD)
    reviews.review_submit(review=written(review, both), actor=both)

    response = client_for(both).post(f"/api/v1/reviews/{review.pk}/approve/")

    assert response.status_code == 403
    assert "author" in response.json()["detail"]


def test_a_role_without_review_permissions_cannot_edit(
    client_for: Callable[[User], APIClient], make_user: Callable[..., User], review: PostIncidentReview
) -> None:
    security = make_user("security", SECURITY_LEAD)
    assert (
        client_for(security).patch(f"/api/v1/reviews/{review.pk}/", {"summary": "x"}, format="json").status_code == 403
    )


def test_the_markdown_endpoint_answers_markdown(
    client_for: Callable[[User], APIClient], sre: User, review: PostIncidentReview
) -> None:
    response = client_for(sre).get(f"/api/v1/reviews/{review.pk}/markdown/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    body = response.content.decode()
    assert body.startswith(f"# Post-incident review: INC-{review.incident_id} Checkout down")
    assert "## Root causes" in body


# --- Pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("review-list", {}), ("review-detail", {"pk": 1}), ("review-export", {"pk": 1})],
)
def test_review_pages_need_a_login(client: Client, name: str, kwargs: dict[str, Any]) -> None:
    response = client.get(reverse(name, kwargs=kwargs))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_list_shows_overdue_reviews_with_a_badge_and_filters(
    client: Client, sre: User, review: PostIncidentReview
) -> None:
    client.force_login(sre)
    with time_machine.travel(datetime(2026, 1, 16, tzinfo=UTC)):
        page = text(client.get(reverse("review-list")))
        only_overdue = text(client.get(reverse("review-list"), {"overdue": "true", "status": ["draft"]}))
        not_overdue = text(client.get(reverse("review-list"), {"overdue": "false"}))

    assert f"Review of {review.incident.public_id}" in page
    assert "overdue-badge" in page
    assert "1 review overdue" in page
    assert review.get_absolute_url() in only_overdue
    assert review.get_absolute_url() not in not_overdue
    assert review.get_absolute_url() == f"/incidents/reviews/{review.pk}/"


def test_the_review_page_saves_sections_and_inline_action_items(
    client: Client, sre: User, review: PostIncidentReview
) -> None:
    client.force_login(sre)
    page = text(client.get(review.get_absolute_url()))
    assert 'name="review-summary"' in page
    assert "items-TOTAL_FORMS" in page

    data = {
        "review-summary": "Checkout failed",
        "review-impact": "Payments",
        "review-timeline": review.timeline,
        "review-root_causes": "Bad deploy",
        "items-TOTAL_FORMS": "1",
        "items-INITIAL_FORMS": "0",
        "items-0-title": "Add a canary",
        "items-0-owner": "sre",
        "items-0-due_date": "2026-02-01",
        "items-0-priority": "high",
        "items-0-status": "open",
        "intent": "save",
    }
    response = client.post(review.get_absolute_url(), data)
    assert response.status_code == 302, text(response)

    review.refresh_from_db()
    assert (review.summary, review.author) == ("Checkout failed", sre)
    item = ActionItem.objects.get(review=review)
    assert (item.title, item.owner, item.priority, item.incident_id) == (
        "Add a canary",
        sre,
        "high",
        review.incident_id,
    )

    edit = {
        **data,
        "items-TOTAL_FORMS": "2",
        "items-INITIAL_FORMS": "1",
        "items-0-id": str(item.pk),
        "items-0-status": "done",
        "items-1-title": "",  # the empty extra row, as a browser sends it
        "items-1-priority": "medium",
        "items-1-status": "open",
        "intent": "submit",
    }
    response = client.post(review.get_absolute_url(), edit)
    assert response.status_code == 302, text(response)
    item.refresh_from_db()
    assert item.status == ActionStatus.DONE and item.closed_at is not None
    review.refresh_from_db()
    assert review.status == ReviewStatus.IN_REVIEW


def test_submitting_an_incomplete_review_shows_the_missing_fields(
    client: Client, sre: User, review: PostIncidentReview
) -> None:
    client.force_login(sre)

    response = client.post(reverse("review-submit", kwargs={"pk": review.pk}))

    assert response.status_code == 400
    body = text(response)
    assert "The review cannot be submitted yet" in body
    assert "Summary is required" in body
    assert "Root causes is required" in body
    assert "Add at least one action item" in body


def test_approving_on_the_page(client: Client, sre: User, lead: User, review: PostIncidentReview) -> None:
    reviews.review_submit(review=written(review, sre), actor=sre)
    client.force_login(sre)
    assert client.post(reverse("review-approve", kwargs={"pk": review.pk})).status_code == 403

    client.force_login(lead)
    assert "Approve and publish" in text(client.get(review.get_absolute_url()))
    response = client.post(reverse("review-approve", kwargs={"pk": review.pk}), follow=True)

    assert "Review approved and published." in text(response)
    review.refresh_from_db()
    assert review.status == ReviewStatus.PUBLISHED and review.approved_by == lead


def test_a_published_review_is_read_only_on_the_page(
    client: Client, sre: User, lead: User, review: PostIncidentReview
) -> None:
    reviews.review_submit(review=written(review, sre), actor=sre)
    reviews.review_approve(review=review, actor=lead)
    client.force_login(sre)

    page = text(client.get(review.get_absolute_url()))
    response = client.post(
        review.get_absolute_url(),
        {"review-summary": "Rewritten", "items-TOTAL_FORMS": "0", "items-INITIAL_FORMS": "0"},
        follow=True,
    )

    assert 'name="review-summary"' not in page
    assert "Published: this text is final." in page
    assert "Start a correction" in page
    assert "can no longer change" in text(response)
    review.refresh_from_db()
    assert review.summary == "S"


def test_people_without_the_change_permission_see_no_form_and_cannot_post(
    client: Client, make_user: Callable[..., User], review: PostIncidentReview
) -> None:
    client.force_login(make_user("security", SECURITY_LEAD))

    assert 'name="review-summary"' not in text(client.get(review.get_absolute_url()))
    assert client.post(review.get_absolute_url(), {}).status_code == 403


def test_starting_a_review_by_hand_from_an_incident(client: Client, sre: User) -> None:
    incident: Incident = IncidentFactory.create(severity="SEV-4")
    client.force_login(sre)

    response = client.post(reverse("review-start", kwargs={"number": incident.pk}))
    again = client.post(reverse("review-start", kwargs={"number": incident.pk}))

    review = PostIncidentReview.objects.get(incident=incident)
    assert response["Location"] == again["Location"] == review.get_absolute_url()
    assert review.author == sre


def test_the_markdown_export_downloads(client: Client, sre: User, review: PostIncidentReview) -> None:
    client.force_login(sre)

    response = client.get(f"/incidents/reviews/{review.pk}/export.md")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert f'filename="review-INC-{review.incident_id}.md"' in response["Content-Disposition"]
    assert "## Action items" in text(response)
