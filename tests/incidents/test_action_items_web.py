"""The improvement backlog over the API (/api/v1/action-items/) and on its pages (/incidents/backlog/):
CRUD, close and reopen, the shared filters, pagination, permissions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from incidents.models import ActionItem, ActionStatus, Incident
from incidents.reviews import services as reviews
from opsgov.roles import SECURITY_LEAD, SRE_LEAD, TECH_LEAD

from ..factories import ServiceFactory
from .factories import IncidentFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/action-items/"
TODAY = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)


@pytest.fixture
def sre(make_user: Callable[..., User]) -> User:
    return make_user("sre", SRE_LEAD)


@pytest.fixture
def api(client_for: Callable[[User], APIClient], sre: User) -> APIClient:
    return client_for(sre)


@pytest.fixture
def checkout_incident() -> Incident:
    return IncidentFactory.create(service=ServiceFactory.create(slug="checkout"), severity="SEV-3")


@pytest.fixture
def backlog(sre: User, checkout_incident: Incident) -> dict[str, ActionItem]:
    auth_incident = IncidentFactory.create(service=ServiceFactory.create(slug="auth"), severity="SEV-3")
    late = reviews.action_item_create(
        incident=checkout_incident, title="Late alert", owner=sre, due_date=date(2026, 3, 1), priority="high"
    )
    soon = reviews.action_item_create(incident=auth_incident, title="Soon runbook", due_date=date(2026, 4, 1))
    done = reviews.action_item_create(incident=checkout_incident, title="Done canary", priority="low")
    done = reviews.action_item_close(item=done)
    return {"late": late, "soon": soon, "done": done}


def titles(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["title"] for row in response.json()["results"]]


def text(response: HttpResponseBase) -> str:
    assert isinstance(response, HttpResponse)
    return response.content.decode()


# --- API -----------------------------------------------------------------------------------


def test_the_api_answers_401_without_a_token_and_403_without_a_role(
    api_client: APIClient, client_for: Callable[[User], APIClient], make_user: Callable[..., User]
) -> None:
    assert api_client.get(URL).status_code == 401
    outsider = client_for(make_user("outsider"))
    assert outsider.get(URL).status_code == 403
    assert outsider.post(URL, {"title": "x"}, format="json").status_code == 403


def test_a_security_lead_reads_the_backlog_but_cannot_change_it(
    client_for: Callable[[User], APIClient], make_user: Callable[..., User], backlog: dict[str, ActionItem]
) -> None:
    security = client_for(make_user("security", SECURITY_LEAD))

    assert security.get(URL).status_code == 200
    assert security.post(f"{URL}{backlog['late'].pk}/close/").status_code == 403


def test_a_tech_lead_works_the_backlog(
    client_for: Callable[[User], APIClient], make_user: Callable[..., User], backlog: dict[str, ActionItem]
) -> None:
    lead = client_for(make_user("lead", TECH_LEAD))
    response = lead.post(f"{URL}{backlog['late'].pk}/close/", {"resolution": "done"}, format="json")
    assert response.status_code == 200, response.content


def test_crud_over_the_api(api: APIClient, checkout_incident: Incident) -> None:
    created = api.post(
        URL,
        {"title": "Alert on 5xx", "incident": checkout_incident.pk, "owner": "sre", "due_date": "2026-04-01"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["status"], body["priority"], body["service"], body["owner"]) == ("open", "medium", "checkout", "sre")
    pk = body["id"]

    changed = api.patch(f"{URL}{pk}/", {"priority": "high", "status": "in_progress"}, format="json")
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["priority"], changed.json()["status"]) == ("high", "in_progress")

    refused = api.patch(f"{URL}{pk}/", {"status": "done"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "status"

    # Action items are evidence: no DELETE (close one added by mistake as won't do).
    assert api.delete(f"{URL}{pk}/").status_code == 405
    assert ActionItem.objects.filter(pk=pk).exists()


def test_close_and_reopen_over_the_api(api: APIClient, checkout_incident: Incident) -> None:
    item = reviews.action_item_create(incident=checkout_incident, title="Alert on 5xx")

    closed = api.post(f"{URL}{item.pk}/close/", {"resolution": "wont_do"}, format="json")
    assert closed.status_code == 200, closed.json()
    assert closed.json()["status"] == "wont_do" and closed.json()["closed_at"] is not None
    assert api.post(f"{URL}{item.pk}/close/", {}, format="json").status_code == 400

    reopened = api.post(f"{URL}{item.pk}/reopen/")
    assert reopened.status_code == 200
    assert reopened.json()["status"] == "open" and reopened.json()["closed_at"] is None


@pytest.mark.usefixtures("backlog")
def test_the_api_filters_the_backlog(api: APIClient) -> None:
    with time_machine.travel(TODAY):
        assert titles(api.get(URL, {"overdue": "true"})) == ["Late alert"]
        assert sorted(titles(api.get(URL, {"overdue": "false"}))) == ["Done canary", "Soon runbook"]
        overdue_row = api.get(URL, {"overdue": "true"}).json()["results"][0]
    assert overdue_row["overdue"] is True
    assert titles(api.get(URL, {"status": ["open", "in_progress"]})) == ["Late alert", "Soon runbook"]
    assert titles(api.get(URL, {"priority": "low"})) == ["Done canary"]
    assert titles(api.get(URL, {"owner": "sre"})) == ["Late alert"]
    assert sorted(titles(api.get(URL, {"service": "checkout"}))) == ["Done canary", "Late alert"]
    assert titles(api.get(URL, {"q": "runbook"})) == ["Soon runbook"]
    unknown = api.get(URL, {"service": "nope"})
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["field"] == "service"


@pytest.mark.usefixtures("backlog")
def test_the_list_is_paginated_with_a_fixed_number_of_queries(
    api: APIClient, django_assert_max_num_queries: Any
) -> None:
    first = api.get(URL, {"page_size": 2}).json()
    assert first["count"] == 3
    assert len(first["results"]) == 2
    assert first["next"] is not None
    with django_assert_max_num_queries(8):
        api.get(URL)


# --- Pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("action-item-list", {}), ("action-item-create", {}), ("action-item-detail", {"pk": 1})],
)
def test_backlog_pages_need_a_login(client: Client, name: str, kwargs: dict[str, Any]) -> None:
    response = client.get(reverse(name, kwargs=kwargs))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_backlog_page_lists_and_filters(client: Client, sre: User, backlog: dict[str, ActionItem]) -> None:
    client.force_login(sre)

    with time_machine.travel(TODAY):
        page = text(client.get(reverse("action-item-list")))
        overdue = text(client.get(reverse("action-item-list"), {"overdue": "true"}))
        by_service = text(client.get(reverse("action-item-list"), {"service": "auth"}))
        by_owner = text(client.get(reverse("action-item-list"), {"owner": "sre", "priority": ["high"]}))

    for item in backlog.values():
        assert item.get_absolute_url() in page
    assert "overdue-badge" in page
    assert backlog["late"].get_absolute_url() in overdue
    assert backlog["soon"].get_absolute_url() not in overdue
    assert backlog["soon"].get_absolute_url() in by_service
    assert backlog["late"].get_absolute_url() not in by_service
    assert backlog["late"].get_absolute_url() in by_owner
    assert backlog["done"].get_absolute_url() not in by_owner
    assert backlog["late"].get_absolute_url() == f"/incidents/backlog/{backlog['late'].pk}/"


def test_adding_editing_closing_and_reopening_on_the_pages(
    client: Client, sre: User, checkout_incident: Incident
) -> None:
    client.force_login(sre)

    response = client.post(
        reverse("action-item-create"),
        {"title": "Alert on 5xx", "priority": "high", "status": "open", "incident": checkout_incident.pk},
    )
    item = ActionItem.objects.get(title="Alert on 5xx")
    assert response["Location"] == item.get_absolute_url()
    assert item.incident == checkout_incident

    response = client.post(
        item.get_absolute_url(), {"title": "Alert on 5xx rate", "priority": "low", "status": "in_progress"}
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.title, item.priority, item.status) == ("Alert on 5xx rate", "low", "in_progress")

    client.post(reverse("action-item-close", kwargs={"pk": item.pk}), {"resolution": "done"})
    item.refresh_from_db()
    assert item.status == ActionStatus.DONE and item.closed_at is not None
    assert "Reopen" in text(client.get(item.get_absolute_url()))

    client.post(reverse("action-item-reopen", kwargs={"pk": item.pk}))
    item.refresh_from_db()
    assert item.status == ActionStatus.OPEN and item.closed_at is None


def test_the_create_form_shows_errors(client: Client, sre: User) -> None:
    client.force_login(sre)

    response = client.post(reverse("action-item-create"), {"title": "", "priority": "high", "status": "open"})

    assert response.status_code == 200
    assert "This field is required." in text(response)


def test_people_without_the_permissions_cannot_change_the_backlog(
    client: Client, make_user: Callable[..., User], backlog: dict[str, ActionItem]
) -> None:
    client.force_login(make_user("security", SECURITY_LEAD))
    item = backlog["late"]

    page = text(client.get(item.get_absolute_url()))
    assert "Close item" not in page
    assert client.get(reverse("action-item-create")).status_code == 403
    assert client.post(reverse("action-item-close", kwargs={"pk": item.pk}), {"resolution": "done"}).status_code == 403
    assert client.post(item.get_absolute_url(), {"title": "x"}).status_code == 403
