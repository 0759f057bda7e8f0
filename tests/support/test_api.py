"""The support API: role permissions, ticket actions, 400 with field paths."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from opsgov.roles import COMPLIANCE_OFFICER, SUPPORT_TEAM
from support.models import MessageKind, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def support_api(agent: User, client_for: Callable[[User], APIClient]) -> APIClient:
    return client_for(agent)


def test_the_support_team_opens_and_works_a_ticket(support_api: APIClient, agent: User) -> None:
    created = support_api.post(
        "/api/v1/support/tickets/",
        {
            "subject": "Phone call",
            "description": "VPN down",
            "requester_email": "Ann@X.test",
            "priority": "P2",
            "channel": "phone",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    number = created.json()["number"]
    assert created.json()["requester"]["email"] == "ann@x.test" and created.json()["response_due_at"]
    url = f"/api/v1/support/tickets/{number}/"
    assert support_api.post(url + "note/", {"body": "checking"}, format="json").status_code == 201
    assert support_api.post(url + "reply/", {"body": "fixed?"}, format="json").status_code == 201
    assigned = support_api.post(url + "assign/", {"assignee": agent.username}, format="json")
    assert assigned.status_code == 200 and assigned.json()["assignee"] == agent.username
    resolved = support_api.post(url + "status/", {"status": "resolved"}, format="json")
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    ticket = Ticket.objects.get(number=number)
    assert ticket.first_response_at is not None
    assert list(ticket.messages.values_list("kind", flat=True)) == [
        MessageKind.CUSTOMER,
        MessageKind.NOTE,
        MessageKind.REPLY,
    ]
    listed = support_api.get("/api/v1/support/tickets/", {"status": "resolved"})
    assert [row["number"] for row in listed.json()["results"]] == [number]


def test_bad_input_is_400_with_field_paths(support_api: APIClient) -> None:
    answer = support_api.post(
        "/api/v1/support/tickets/",
        {"subject": "x", "description": "y", "requester_email": "nope", "priority": "P9", "color": 1},
        format="json",
    )
    assert answer.status_code == 400
    fields = {error["field"] for error in answer.json()["errors"]} if "errors" in answer.json() else set(answer.json())
    assert {"requester_email", "priority", "color"} <= fields


def test_a_read_only_role_reads_but_does_not_work_tickets(
    make_user: Callable[..., User], client_for: Callable[[User], APIClient]
) -> None:
    client = client_for(make_user("co", COMPLIANCE_OFFICER))
    assert client.get("/api/v1/support/tickets/").status_code == 200
    answer = client.post("/api/v1/support/tickets/", {"subject": "x"}, format="json")
    assert answer.status_code == 403
    assert SUPPORT_TEAM
