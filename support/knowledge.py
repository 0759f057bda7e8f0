"""The knowledge base: articles in Markdown rendered sanitised, reviews due by policy, "was this helpful" votes.

Rendering is core's, as for runbooks (opsgov.rendering: Markdown, then an nh3 allowlist: no scripts, no event
handlers, no styles, no image from another site; links open with rel="noopener noreferrer").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.safestring import SafeString

from opsgov.policy import get_policy
from opsgov.rendering import render_markdown
from opsgov.sla import due_at, policy_calendar

from .models import Article, ArticleCategory, Ticket, TicketEvent, TicketEventKind


def render(text: str) -> SafeString:
    """`text` (Markdown, possibly with raw HTML) as sanitised HTML (opsgov.rendering)."""
    return render_markdown(text)


def next_review(at: datetime) -> datetime:
    return due_at(at, get_policy().support.article_review_every, calendar=policy_calendar())


def create_article(
    *,
    slug: str,
    title: str,
    body: str,
    category: ArticleCategory,
    visibility: str,
    owner: Any = None,
    at: datetime | None = None,
) -> Article:
    now = at or timezone.now()
    article = Article(
        slug=slug,
        title=title,
        body=body,
        category=category,
        visibility=visibility,
        owner=owner,
        review_due_at=next_review(now),
    )
    article.full_clean()
    article.save()
    return article


def mark_reviewed(*, article: Article, at: datetime | None = None) -> Article:
    """The owner reviewed it: the next review is due a policy period later."""
    now = at or timezone.now()
    Article.objects.filter(pk=article.pk).update(reviewed_at=now, review_due_at=next_review(now), updated_at=now)
    article.refresh_from_db()
    return article


def vote(*, article: Article, helpful: bool) -> None:
    """A "was this helpful" vote (one conditional increment)."""
    field = "helpful_yes" if helpful else "helpful_no"
    Article.objects.filter(pk=article.pk).update(**{field: F(field) + 1})


@transaction.atomic
def link_ticket(*, article: Article, ticket: Ticket, actor: Any = None, at: datetime | None = None) -> bool:
    """Link `article` to `ticket` (recorded in the ticket's timeline); False when they were linked already."""
    if article.tickets.filter(pk=ticket.pk).exists():
        return False
    article.tickets.add(ticket)
    TicketEvent.objects.create(
        ticket=ticket,
        kind=TicketEventKind.ARTICLE,
        message=f"Article linked: {article.title}"[:500],
        at=at or timezone.now(),
        actor=actor,
        data={"article": article.slug, "linked": True},
    )
    return True


@transaction.atomic
def unlink_ticket(*, article: Article, ticket: Ticket, actor: Any = None, at: datetime | None = None) -> bool:
    """Undo link_ticket (recorded in the ticket's timeline); False when they were not linked."""
    if not article.tickets.filter(pk=ticket.pk).exists():
        return False
    article.tickets.remove(ticket)
    TicketEvent.objects.create(
        ticket=ticket,
        kind=TicketEventKind.ARTICLE,
        message=f"Article unlinked: {article.title}"[:500],
        at=at or timezone.now(),
        actor=actor,
        data={"article": article.slug, "linked": False},
    )
    return True
