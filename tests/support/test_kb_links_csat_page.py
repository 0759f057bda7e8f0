"""Knowledge-base articles linked to tickets from the ticket page; the CSAT results page."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from opsgov.models import Team
from opsgov.roles import PRODUCT_OWNER, SUPPORT_TEAM
from support import knowledge, services
from support.models import ArticleCategory, TicketEvent, TicketEventKind, TicketStatus, Visibility

pytestmark = pytest.mark.django_db


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_agent_links_and_unlinks_an_article_on_the_ticket_page(agent: User) -> None:
    category = ArticleCategory.objects.create(slug="how-to", name="How-to")
    article = knowledge.create_article(
        slug="reset-password",
        title="Reset a password",
        category=category,
        visibility=Visibility.PUBLIC,
        body="Reset your password from the login page.",
    )
    ticket = services.create_ticket(subject="Cannot reset my password", description="x", requester_email="a@x.test")
    client = client_of(agent)
    url = ticket.get_absolute_url()
    page = client.get(url).content.decode()
    # Suggested from the subject, with a Link button; nothing linked yet.
    assert "No article linked." in page and 'value="reset-password"><button>Link</button>' in page
    client.post(f"{url}articles/", {"article": "reset-password"})
    page = client.get(url).content.decode()
    assert "Linked Reset a password." in page
    assert '<button name="unlink" value="1">Unlink</button>' in page and "No article linked." not in page
    assert list(article.tickets.all()) == [ticket]
    # The article's page lists the ticket.
    article_page = client.get("/support/kb/reset-password/").content.decode()
    assert f'<a href="{url}">{ticket.public_id}</a> Cannot reset my password' in article_page
    # Linking again changes nothing; an unknown slug is named.
    client.post(f"{url}articles/", {"article": "reset-password"})
    assert "was linked already" in client.get(url).content.decode()
    client.post(f"{url}articles/", {"article": "nope"})
    assert "article: no knowledge-base article with the slug &#x27;nope&#x27;." in client.get(url).content.decode()
    client.post(f"{url}articles/", {"article": "reset-password", "unlink": "1"})
    assert list(article.tickets.all()) == []
    # Both changes are in the ticket's timeline.
    assert list(
        TicketEvent.objects.filter(ticket=ticket, kind=TicketEventKind.ARTICLE).values_list("message", flat=True)
    ) == ["Article linked: Reset a password", "Article unlinked: Reset a password"]


def test_a_reader_cannot_link_articles(make_user: Callable[..., User]) -> None:
    ticket = services.create_ticket(subject="x", description="x", requester_email="a@x.test")
    owner = client_of(make_user("po", PRODUCT_OWNER))
    assert owner.post(f"{ticket.get_absolute_url()}articles/", {"article": "x"}).status_code == 403


def test_the_csat_page_groups_ratings_by_agent_team_service_and_priority(
    agent: User, make_user: Callable[..., User]
) -> None:
    other = make_user("other", SUPPORT_TEAM)
    team = Team.objects.create(slug="desk", name="Desk")
    for who, priority, rating in ((agent, "P2", 5), (agent, "P3", 4), (other, "P3", 2)):
        ticket = services.create_ticket(
            subject="Export", description="x", requester_email="bo@x.test", priority=priority
        )
        services.assign(ticket=ticket, assignee=who, team=team if who is agent else None, actor=who)
        services.reply(ticket=ticket, body="Done", actor=who)
        ticket = services.set_status(ticket=ticket, status=TicketStatus.RESOLVED, actor=who)
        services.record_rating(token=services.survey_token(ticket.survey), rating=rating)
    owner = client_of(make_user("po", PRODUCT_OWNER))
    by_agent = owner.get("/support/csat/").content.decode()
    # agent: (5 + 4) / 2 = 4.50 over 2; other: 2.00 over 1; overall (5 + 4 + 2) / 3 = 3.67 over 3.
    assert "Mean 3.67 / 5 over 3 answers in the last 30 days (target above 4.5)." in by_agent
    assert '<tr><td>agent</td><td><span class="badge badge-warning">4.50</span></td><td>2</td></tr>' in by_agent
    assert '<tr><td>other</td><td><span class="badge badge-warning">2.00</span></td><td>1</td></tr>' in by_agent
    by_priority = owner.get("/support/csat/?by=priority&days=90").content.decode()
    assert '<tr><td>P2</td><td><span class="badge badge-success">5.00</span></td><td>1</td></tr>' in by_priority
    assert '<tr><td>P3</td><td><span class="badge badge-warning">3.00</span></td><td>2</td></tr>' in by_priority
    by_team = owner.get("/support/csat/?by=team").content.decode()
    assert "<tr><td>Desk</td>" in by_team and "<tr><td>—</td>" in by_team
    assert "By service" in owner.get("/support/csat/?by=nonsense").content.decode()
    assert Client().get("/support/csat/").status_code in (302, 403)
