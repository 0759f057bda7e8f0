"""Agent pages and the public request form."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.utils import timezone

from opsgov.roles import COMPLIANCE_OFFICER
from support import services
from support.models import MailKind, OutgoingEmail, Ticket, TicketStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(agent: User) -> Client:
    client = Client()
    client.force_login(agent)
    return client


def test_the_queues_count_and_list_tickets_with_their_clocks(agent_client: Client, agent: User) -> None:
    now = timezone.now()
    mine = services.create_ticket(subject="Mine", description="x", requester_email="a@x.test", priority="P2")
    services.assign(ticket=mine, assignee=agent, actor=agent)
    late = services.create_ticket(
        subject="Late", description="x", requester_email="b@x.test", priority="P1", at=now - timedelta(minutes=20)
    )
    waiting = services.create_ticket(subject="Waiting", description="x", requester_email="c@x.test")
    services.set_status(ticket=waiting, status=TicketStatus.WAITING, actor=agent)
    page = agent_client.get("/support/?queue=breaching")
    body = page.content.decode()
    assert page.status_code == 200
    assert late.public_id in body and mine.public_id not in body
    assert "overdue by 5 min" in body and "badge-danger" in body
    for name, count in (("all", 3), ("mine", 1), ("unassigned", 2), ("breaching", 1), ("waiting", 1)):
        assert f'data-queue="{name}">{count}<' in body
    assert "paused" in agent_client.get("/support/?queue=waiting").content.decode()


def test_the_ticket_page_replies_notes_and_changes_status(agent_client: Client) -> None:
    ticket = services.create_ticket(subject="Broken", description="Help", requester_email="a@x.test")
    url = f"/support/tickets/{ticket.number}/"
    assert "due in" in agent_client.get(url).content.decode()
    agent_client.post(url + "message/", {"body": "Internal", "internal": "on"})
    agent_client.post(url + "message/", {"body": "Public"})
    agent_client.post(url + "update/", {"status": "resolved", "priority": ""})
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED and ticket.first_response_at is not None
    body = agent_client.get(url).content.decode()
    assert "Internal note" in body and "Public reply" in body and "Satisfaction survey sent" in body


def test_bulk_assign_and_status_act_on_the_ticked_tickets(agent_client: Client, agent: User) -> None:
    tickets = [services.create_ticket(subject=f"T{n}", description="x", requester_email="a@x.test") for n in range(3)]
    page = agent_client.get("/support/?queue=unassigned").content.decode()
    for ticket in tickets:
        assert f'<input type="checkbox" name="tickets" value="{ticket.number}"' in page
    # The form posts one "tickets" value per ticked checkbox (plain HTML: no script needed to submit).
    response = agent_client.post(
        "/support/bulk/",
        {"tickets": [tickets[0].number, tickets[1].number], "status": "waiting", "assign_to_me": "on", "queue": "mine"},
    )
    assert response.status_code == 302 and response["Location"] == "/support/?queue=mine"
    states = dict(Ticket.objects.values_list("number", "status"))
    assert [states[t.number] for t in tickets] == ["waiting", "waiting", "new"]
    assert Ticket.objects.filter(assignee=agent).count() == 2
    assert "2 ticket(s) updated." in agent_client.get("/support/?queue=mine").content.decode()


def test_bulk_without_a_ticked_ticket_or_an_action_changes_nothing_and_says_why(
    agent_client: Client, agent: User
) -> None:
    ticket = services.create_ticket(subject="T", description="x", requester_email="a@x.test")
    agent_client.post("/support/bulk/", {"status": "waiting"})
    assert "tickets: Tick at least one ticket." in agent_client.get("/support/").content.decode()
    agent_client.post("/support/bulk/", {"tickets": [ticket.number]})
    assert "Nothing changed: choose a status" in agent_client.get("/support/").content.decode()
    agent_client.post("/support/bulk/", {"tickets": ["12x"], "status": "waiting"})
    assert "12x is not a ticket number." in agent_client.get("/support/").content.decode()
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.NEW and ticket.assignee is None


def test_the_clocks_refresh_in_place_through_htmx(agent_client: Client, agent: User) -> None:
    now = timezone.now()
    late = services.create_ticket(
        subject="Late", description="x", requester_email="b@x.test", priority="P1", at=now - timedelta(minutes=20)
    )
    fresh = services.create_ticket(subject="Fresh", description="x", requester_email="c@x.test", priority="P2")
    done = services.create_ticket(subject="Done", description="x", requester_email="d@x.test")
    services.reply(ticket=done, body="Fixed", actor=agent)
    services.set_status(ticket=done, status=TicketStatus.RESOLVED, actor=agent)
    queue = agent_client.get("/support/").content.decode()
    # The queue polls the clocks of the tickets whose clocks still run (not the resolved one).
    assert f'hx-get="/support/clocks/?n={late.number}&amp;n={fresh.number}"' in queue
    assert 'hx-trigger="every 30s" hx-swap="none"' in queue
    assert f'id="clock-{late.number}-response"' in queue
    detail = agent_client.get(late.get_absolute_url()).content.decode()
    assert f'hx-get="/support/clocks/?n={late.number}"' in detail
    assert "/support/clocks/" not in agent_client.get(done.get_absolute_url()).content.decode()
    response = agent_client.get(f"/support/clocks/?n={late.number}&n={fresh.number}&n=x", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    # Each badge replaces its namesake on the page (out of band), in words and colour.
    assert (
        f'<span id="clock-{late.number}-response" class="badge badge-danger" data-clock="response" '
        f'hx-swap-oob="true">overdue by 5 min</span>'
    ) in body
    assert f'id="clock-{fresh.number}-response" class="badge badge-' in body
    assert body.count('hx-swap-oob="true"') == 4
    anonymous = Client().get(f"/support/clocks/?n={late.number}")
    assert anonymous.status_code in (302, 403)


def test_attachments_are_served_only_to_people_allowed_to_see_tickets(
    agent_client: Client, make_user: Callable[..., User]
) -> None:
    ticket = services.create_ticket(
        subject="Shot",
        description="x",
        requester_email="a@x.test",
        attachments=[services.IncomingFile("s.png", "image/png", b"\x89PNG...")],
    )
    attachment = ticket.messages.get().attachments.get()
    url = f"/support/attachments/{attachment.pk}/"
    response = agent_client.get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"\x89PNG..."  # type: ignore[attr-defined]
    assert Client().get(url).status_code == 302  # to the login page
    outsider = Client()
    outsider.force_login(make_user("outsider"))
    assert outsider.get(url).status_code == 403
    reader = Client()
    reader.force_login(make_user("co", COMPLIANCE_OFFICER))
    assert reader.get(url).status_code == 200


def test_the_request_form_opens_a_ticket_confirms_by_email_and_is_rate_limited(settings: object) -> None:
    client = Client(enforce_csrf_checks=True)
    form = client.get("/support/request/")
    assert form.status_code == 200
    token = form.cookies["csrftoken"].value
    data = {
        "name": "Ann",
        "email": "ann@x.test",
        "subject": "Printer",
        "description": "on fire",
        "csrfmiddlewaretoken": token,
    }
    assert client.post("/support/request/", {**data, "csrfmiddlewaretoken": "bad"}).status_code == 403
    done = client.post("/support/request/", data)
    assert done.status_code == 200 and b"We opened T-" in done.content
    ticket = Ticket.objects.get()
    assert ticket.channel == "web" and ticket.requester.name == "Ann"
    assert OutgoingEmail.objects.filter(ticket=ticket, kind=MailKind.ACK, to="ann@x.test").count() == 1
    statuses = [client.post("/support/request/", data).status_code for _ in range(10)]  # 11 in at most two windows
    assert 429 in statuses
    assert mail.outbox == []  # delivery is the outbox task's job
