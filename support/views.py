"""HTML pages of support (mounted under /support/): queues, ticket detail, the request form, rating links."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_POST

from opsgov import ratelimit
from opsgov.policy import get_policy

from . import knowledge, nps, selectors, services, sla
from .forms import BulkForm, MessageForm, RatingForm, RequestForm, TicketUpdateForm
from .models import Article, Attachment, Channel, Ticket, Visibility

VIEW = "support.view_ticket"
CHANGE = "support.change_ticket"
REQUEST_RATE = ratelimit.parse_rate("5/minute")
PAGE_SIZE = 50
#: Linked tickets listed on an article's page (newest first; the rest counted).
ARTICLE_TICKETS_SHOWN = 50
#: How often the queue and ticket pages refresh their SLA clocks (htmx polling of clocks_view).
CLOCK_REFRESH_SECONDS = 30


def _clocks(ticket: Ticket, *, now: datetime) -> tuple[tuple[str, str], tuple[str, str]]:
    """Both clocks in words and colour (support.sla.describe)."""
    response = (
        ("responded", "success")
        if ticket.first_response_at
        else sla.describe(ticket.response_due_at, now=now, at_risk_at=ticket.response_at_risk_at)
    )
    resolution = (
        ("resolved", "success")
        if ticket.resolved_at
        else sla.describe(ticket.resolution_due_at, now=now, at_risk_at=ticket.resolution_at_risk_at)
    )
    return response, resolution


@permission_required(VIEW, raise_exception=True)
def queue_view(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    name = request.GET.get("queue", "all")
    if name not in selectors.QUEUES:
        name = "all"
    # The description is not shown in the list: left out of the page query (it may be long).
    tickets = selectors.queue(name, user=request.user, now=now).defer("description")
    priority = request.GET.get("priority", "")
    if priority:
        tickets = tickets.filter(priority=priority)
    # Keyset-free but count-free: one page and a look-ahead row (a COUNT over a big queue costs more than the page).
    number = max(1, int(request.GET.get("page", "1") or 1)) if request.GET.get("page", "1").isdigit() else 1
    window = list(tickets[(number - 1) * PAGE_SIZE : number * PAGE_SIZE + 1])
    rows = [(ticket, *_clocks(ticket, now=now)) for ticket in window[:PAGE_SIZE]]
    live = [ticket.number for ticket, *_ in rows if not ticket.resolved_at or not ticket.first_response_at]
    counts = selectors.queue_counts(user=request.user, now=now)
    return render(
        request,
        "support/queue.html",
        {
            "queue": name,
            "queue_tabs": [(q, counts[q]) for q in selectors.QUEUES],
            "page_number": number,
            "has_next": len(window) > PAGE_SIZE,
            "rows": rows,
            "priority": priority,
            "can_change": request.user.has_perm(CHANGE),
            "clocks_url": _clocks_url(live) if live else "",
            "refresh_seconds": CLOCK_REFRESH_SECONDS,
        },
    )


def _clocks_url(numbers: list[int | None]) -> str:
    return f"{reverse('support-clocks')}?{urlencode({'n': [n for n in numbers if n is not None]}, doseq=True)}"


@permission_required(VIEW, raise_exception=True)
def clocks_view(request: HttpRequest) -> HttpResponse:
    """The SLA clocks of the tickets numbered ``?n=`` (at most a page), as htmx out-of-band swaps.

    The queue and ticket pages poll this every CLOCK_REFRESH_SECONDS: only the clock badges change, so
    the ticks of a bulk selection and a reply being typed are kept. One query whatever the page.
    """
    numbers = [int(n) for n in request.GET.getlist("n")[:PAGE_SIZE] if n.isdigit() and len(n) <= 9]
    now = timezone.now()
    tickets = Ticket.objects.filter(number__in=numbers).order_by("number")
    response = render(
        request, "support/_clocks.html", {"rows": [(ticket, *_clocks(ticket, now=now)) for ticket in tickets]}
    )
    patch_cache_control(response, no_store=True)
    return response


@permission_required(VIEW, raise_exception=True)
def ticket_detail_view(request: HttpRequest, number: int) -> HttpResponse:
    ticket = get_object_or_404(Ticket.objects.select_related("requester", "assignee", "service", "team"), number=number)
    now = timezone.now()
    linked = list(ticket.articles.select_related("category").order_by("title"))
    return render(
        request,
        "support/ticket_detail.html",
        {
            "ticket": ticket,
            "conversation": ticket.messages.select_related("author", "contact").prefetch_related("attachments"),
            "events": ticket.events.select_related("actor"),
            "clocks": _clocks(ticket, now=now),
            "linked_articles": linked,
            "articles": [a for a in selectors.suggested_articles(ticket.subject, public_only=False) if a not in linked],
            "message_form": MessageForm(),
            "update_form": TicketUpdateForm(initial={"status": ticket.status, "priority": ticket.priority}),
            "can_change": request.user.has_perm(CHANGE),
            # Both clocks stopped (responded and resolved): nothing to refresh.
            "clocks_url": "" if ticket.first_response_at and ticket.resolved_at else _clocks_url([ticket.number]),
            "refresh_seconds": CLOCK_REFRESH_SECONDS,
        },
    )


@require_POST
@permission_required(CHANGE, raise_exception=True)
def ticket_message_view(request: HttpRequest, number: int) -> HttpResponse:
    ticket = get_object_or_404(Ticket, number=number)
    form = MessageForm(request.POST)
    if form.is_valid():
        try:
            if form.cleaned_data["internal"]:
                services.add_note(ticket=ticket, body=form.cleaned_data["body"], actor=request.user)
            else:
                services.reply(ticket=ticket, body=form.cleaned_data["body"], actor=request.user)
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
    else:
        messages.error(request, "A message needs text.")
    return redirect(ticket)


@require_POST
@permission_required(CHANGE, raise_exception=True)
def ticket_update_view(request: HttpRequest, number: int) -> HttpResponse:
    ticket = get_object_or_404(Ticket, number=number)
    form = TicketUpdateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{k}: {', '.join(str(e) for e in v)}" for k, v in form.errors.items()))
        return redirect(ticket)
    try:
        if form.cleaned_data["priority"]:
            ticket = services.change_priority(ticket=ticket, priority=form.cleaned_data["priority"], actor=request.user)
        if form.cleaned_data["status"]:
            ticket = services.set_status(ticket=ticket, status=form.cleaned_data["status"], actor=request.user)
        if request.POST.get("assign_to_me"):
            ticket = services.assign(ticket=ticket, assignee=request.user, actor=request.user)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    return redirect(ticket)


@require_POST
@permission_required(CHANGE, raise_exception=True)
def bulk_view(request: HttpRequest) -> HttpResponse:
    form = BulkForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{k}: {', '.join(str(e) for e in v)}" for k, v in form.errors.items()))
    elif not form.cleaned_data["status"] and not form.cleaned_data["assign_to_me"]:
        messages.error(request, "Nothing changed: choose a status or tick 'Assign to me'.")
    else:
        tickets = list(Ticket.objects.filter(number__in=form.cleaned_data["tickets"]))
        try:
            count = services.bulk_update(
                tickets=tickets,
                actor=request.user,
                assignee=request.user if form.cleaned_data["assign_to_me"] else None,
                status=form.cleaned_data["status"],
            )
            messages.success(request, f"{count} ticket(s) updated.")
        except ValidationError as exc:
            messages.error(request, "Nothing changed: " + "; ".join(exc.messages))
    queue = request.POST.get("queue", "")
    return redirect(f"{reverse('support-queue')}?queue={queue}" if queue in selectors.QUEUES else "support-queue")


@require_POST
@permission_required(CHANGE, raise_exception=True)
def ticket_article_view(request: HttpRequest, number: int) -> HttpResponse:
    """Link a knowledge-base article to the ticket (by its slug), or unlink it (``unlink`` set)."""
    ticket = get_object_or_404(Ticket, number=number)
    slug = request.POST.get("article", "").strip()
    article = Article.objects.filter(slug=slug).first() if slug else None
    if article is None:
        messages.error(request, f"article: no knowledge-base article with the slug {slug!r}.")
    elif request.POST.get("unlink"):
        if knowledge.unlink_ticket(article=article, ticket=ticket, actor=request.user):
            messages.success(request, f"Unlinked {article.title}.")
    elif knowledge.link_ticket(article=article, ticket=ticket, actor=request.user):
        messages.success(request, f"Linked {article.title}.")
    else:
        messages.info(request, f"{article.title} was linked already.")
    return redirect(ticket)


CSAT_GROUPS = ("agent", "team", "service", "priority")
CSAT_WINDOWS = {"30": 30, "90": 90, "365": 365}


@permission_required("support.view_csatsurvey", raise_exception=True)
def csat_view(request: HttpRequest) -> HttpResponse:
    """CSAT results by agent, team, service and priority over a window (mean, answers, low ratings)."""
    by = request.GET.get("by", "agent")
    by = by if by in CSAT_GROUPS else "agent"
    days = CSAT_WINDOWS.get(request.GET.get("days", "30"), 30)
    since = timezone.now() - timedelta(days=days)
    rows = selectors.csat_results(since=since, by=by)
    answers = sum(row["answers"] for row in rows)
    overall = sum(row["mean"] * row["answers"] for row in rows) / answers if answers else None
    return render(
        request,
        "support/csat.html",
        {
            "rows": rows,
            "by": by,
            "groups": CSAT_GROUPS,
            "days": days,
            "windows": [int(d) for d in CSAT_WINDOWS],
            "answers": answers,
            "overall": overall,
            "target": get_policy().targets.support_satisfaction,
        },
    )


@permission_required(VIEW, raise_exception=True)
def attachment_view(request: HttpRequest, pk: int) -> FileResponse:
    attachment = get_object_or_404(Attachment, pk=pk)
    if not attachment.sha256:
        raise Http404("This attachment was refused and not stored.")
    storage = services.attachment_storage()
    response = FileResponse(
        storage.open(attachment.stored_name, "rb"), as_attachment=True, filename=attachment.filename
    )
    response["Content-Type"] = "application/octet-stream"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_not_required
@require_http_methods(["GET", "POST"])
def request_view(request: HttpRequest) -> HttpResponse:
    """The public request form: CSRF-protected, rate limited per address, confirmed by e-mail."""
    form = RequestForm(request.POST or None)
    subject = request.POST.get("subject", "") or request.GET.get("subject", "")
    if request.method == "POST":
        verdict = ratelimit.hit("support-request", request.META.get("REMOTE_ADDR", ""), REQUEST_RATE)
        if not verdict.allowed:
            response = render(request, "support/request.html", {"form": form, "limited": True}, status=429)
            response["Retry-After"] = str(verdict.retry_after)
            return response
        if form.is_valid():
            data = form.cleaned_data
            ticket = services.create_ticket(
                subject=data["subject"],
                description=data["description"],
                requester_email=data["email"],
                requester_name=data["name"],
                organisation=data["organisation"],
                channel=Channel.WEB,
            )
            return render(request, "support/request_done.html", {"ticket": ticket})
    articles = selectors.suggested_articles(subject, public_only=True) if subject else []
    return render(request, "support/request.html", {"form": form, "articles": articles})


@login_not_required
@require_http_methods(["GET", "POST"])
def rate_view(request: HttpRequest, token: str) -> HttpResponse:
    """A rating link: GET shows the form (mail scanners following links record nothing), POST records."""
    try:
        survey = services.survey_for_token(token)
    except services.RatingLinkError as exc:
        return render(request, "support/rate_error.html", {"reason": str(exc)}, status=410)
    form = RatingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.record_rating(
                token=token, rating=form.cleaned_data["rating"], comment=form.cleaned_data["comment"]
            )
        except services.RatingLinkError as exc:
            return render(request, "support/rate_error.html", {"reason": str(exc)}, status=410)
        return render(request, "support/rate_done.html", {"ticket": survey.ticket})
    return render(request, "support/rate.html", {"form": form, "ticket": survey.ticket})


class NpsForm(forms.Form):
    score = forms.TypedChoiceField(choices=[(i, str(i)) for i in range(11)], coerce=int, widget=forms.RadioSelect)
    comment = forms.CharField(widget=forms.Textarea, required=False, max_length=5000)


@login_not_required
@require_http_methods(["GET", "POST"])
def nps_view(request: HttpRequest, token: str) -> HttpResponse:
    """An NPS survey link: GET shows the question, POST records the answer once."""
    try:
        nps.response_for_token(token)
    except nps.NpsLinkError as exc:
        return render(request, "support/rate_error.html", {"reason": str(exc)}, status=410)
    form = NpsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            nps.record(value=token, score=form.cleaned_data["score"], comment=form.cleaned_data["comment"])
        except nps.NpsLinkError as exc:
            return render(request, "support/rate_error.html", {"reason": str(exc)}, status=410)
        return render(request, "support/nps_done.html", {})
    return render(request, "support/nps.html", {"form": form})


@permission_required("support.view_article", raise_exception=True)
def article_list_view(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:200]
    articles = (
        selectors.suggested_articles(query, public_only=False, limit=50)
        if query
        else list(Article.objects.select_related("category").order_by("title")[:200])
    )
    return render(request, "support/article_list.html", {"articles": articles, "q": query})


@permission_required("support.view_article", raise_exception=True)
def article_detail_view(request: HttpRequest, slug: str) -> HttpResponse:
    article = get_object_or_404(Article.objects.select_related("category", "owner"), slug=slug)
    tickets = article.tickets.order_by("-opened_at", "-id")
    return render(
        request,
        "support/article_detail.html",
        {
            "article": article,
            "body": knowledge.render(article.body),
            # Staff only see the linked tickets (the article page may be public: a vote button, no tickets).
            "tickets": list(tickets[:ARTICLE_TICKETS_SHOWN]) if request.user.has_perm(VIEW) else [],
            "tickets_more": max(tickets.count() - ARTICLE_TICKETS_SHOWN, 0) if request.user.has_perm(VIEW) else 0,
        },
    )


@login_not_required
@require_POST
def article_vote_view(request: HttpRequest, slug: str) -> HttpResponse:
    """ "Was this helpful?": public articles take votes from anyone (rate limited), internal ones from staff."""
    article = get_object_or_404(Article, slug=slug)
    if article.visibility != Visibility.PUBLIC and not request.user.has_perm("support.view_article"):
        raise Http404
    verdict = ratelimit.hit("support-vote", request.META.get("REMOTE_ADDR", ""), REQUEST_RATE)
    if verdict.allowed:
        knowledge.vote(article=article, helpful=request.POST.get("helpful") == "yes")
    return render(request, "support/nps_done.html", {"vote": True})
