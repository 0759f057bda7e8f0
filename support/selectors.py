"""Reads of the support app: queues, counts, suggestions, CSAT results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import Avg, Count, IntegerField, Q, QuerySet, Subquery

from .models import OPEN_STATUSES, Article, Contact, CsatSurvey, Ticket, TicketStatus, Visibility

QUEUES = ("all", "mine", "unassigned", "breaching", "waiting")


def queue_filter(name: str, *, user: Any, now: datetime) -> Q:
    """The queues: mine, unassigned, breaching soon (at risk or overdue), waiting on customer, all open."""
    open_ = Q(status__in=[s.value for s in OPEN_STATUSES])
    if name == "mine":
        return open_ & Q(assignee=user)
    if name == "unassigned":
        return open_ & Q(assignee__isnull=True)
    if name == "waiting":
        return Q(status=TicketStatus.WAITING)
    if name == "breaching":
        return open_ & (
            Q(first_response_at__isnull=True, response_at_risk_at__lte=now)
            | Q(resolved_at__isnull=True, resolution_at_risk_at__lte=now)
        )
    return open_


def queue(name: str, *, user: Any, now: datetime) -> QuerySet[Ticket]:
    return (
        Ticket.objects.filter(queue_filter(name, user=user, now=now))
        .select_related("requester", "assignee", "service", "team")
        .order_by("resolution_due_at", "id")
    )


#: Queue counts stop at this many ("1000+"): counting a huge backlog exactly costs more than the page.
COUNT_CAP = 1000


class CappedCount(Subquery):
    """``(SELECT count(*) FROM (<subquery>) ...)``: the rows of a subquery sliced to at most COUNT_CAP."""

    template = "(SELECT count(*) FROM (%(subquery)s) capped)"
    output_field = IntegerField()


def queue_counts(*, user: Any, now: datetime) -> dict[str, str]:
    """The count of every queue, each bounded by COUNT_CAP, in one query (a scalar subquery per queue).

    The subqueries are uncorrelated (run once each), hosted on the agent's own user row; each reads at
    most COUNT_CAP entries of a partial index (no ORDER BY: nothing sorts the whole queue first).
    """
    capped = {
        name: CappedCount(
            Ticket.objects.filter(queue_filter(name, user=user, now=now)).order_by().values("pk")[:COUNT_CAP]
        )
        for name in QUEUES
    }
    found = get_user_model().objects.filter(pk=user.pk).annotate(**capped).values(*QUEUES).get()
    return {name: f"{COUNT_CAP}+" if found[name] >= COUNT_CAP else str(found[name]) for name in QUEUES}


#: The queues that are nobody's own (the dashboard's panel).
BACKLOG_QUEUES = ("all", "unassigned", "breaching", "waiting")


def backlog_counts(*, now: datetime) -> dict[str, str]:
    """queue_counts without "mine", hosted on no row: one query (``SELECT (...) AS all, ...``)."""
    capped = {
        name: CappedCount(
            Ticket.objects.filter(queue_filter(name, user=None, now=now)).order_by().values("pk")[:COUNT_CAP]
        )
        for name in BACKLOG_QUEUES
    }
    # The subqueries are uncorrelated: on any one-row query (here a contact's, or none when there is no
    # contact yet, then no ticket either) PostgreSQL runs each once.
    found = Contact.objects.order_by().annotate(**capped).values(*BACKLOG_QUEUES).first()
    found = found or dict.fromkeys(BACKLOG_QUEUES, 0)
    return {name: f"{COUNT_CAP}+" if found[name] >= COUNT_CAP else str(found[name]) for name in BACKLOG_QUEUES}


def suggested_articles(text: str, *, public_only: bool, limit: int = 5) -> list[Article]:
    """Articles matching `text`: PostgreSQL full-text search, a word match on SQLite."""
    words = [w for w in text.split() if len(w) > 3][:8]
    if not words:
        return []
    articles = Article.objects.all()
    if public_only:
        articles = articles.filter(visibility=Visibility.PUBLIC)
    if connection.vendor == "postgresql":
        vector = SearchVector("title", weight="A") + SearchVector("body", weight="B")
        query = SearchQuery(" OR ".join(words), search_type="websearch")
        return list(
            articles.annotate(rank=SearchRank(vector, query)).filter(rank__gt=0).order_by("-rank", "title")[:limit]
        )
    match = Q()
    for word in words:
        match |= Q(title__icontains=word) | Q(body__icontains=word)
    return list(articles.filter(match).order_by("title")[:limit])


def csat_results(*, since: datetime, by: str) -> list[dict[str, Any]]:
    """Mean rating and answers per agent, team, service or priority."""
    field = {"agent": "agent__username", "team": "team__name", "service": "service__name", "priority": "priority"}[by]
    rows = (
        CsatSurvey.objects.filter(answered_at__gte=since, rating__isnull=False)
        .values(field)
        .annotate(mean=Avg("rating"), answers=Count("pk"))
        .order_by(field)
    )
    return [{"key": row[field] or "—", "mean": row["mean"], "answers": row["answers"]} for row in rows]
