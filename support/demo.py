"""Demo support records for `manage.py seed_demo` (idempotent, deterministic).

Six months of tickets across P1-P4 through the services (so clocks, breaches and surveys are real), with
replies, some breaches, CSAT answers averaging about 4.3 (under the 4.5 target: the gate shows at risk),
one NPS campaign and 20 knowledge-base articles. Demo e-mails are marked sent, never delivered.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import TextIO

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from opsgov.models import OutboxStatus, Service
from opsgov.policy import get_policy

from . import services, sla
from .models import (
    Article,
    ArticleCategory,
    Contact,
    NpsCampaign,
    NpsResponse,
    OutgoingEmail,
    Ticket,
    TicketStatus,
    Visibility,
)

SEED = 7
TICKETS = 240
MARKER = "demo-support"
SUBJECTS = [
    ("Cannot log in after password reset", "Login"),
    ("Invoices page shows an error", "Billing"),
    ("Export to CSV is empty", "Reports"),
    ("How do I add a colleague?", "Accounts"),
    ("Checkout times out for some customers", "Payments"),
    ("Search does not find recent orders", "Search"),
    ("API returns 429 too often", "API"),
    ("Wrong time zone on reports", "Reports"),
]
REPLIES = [
    "Thanks for reporting this. We are looking into it now.",
    "Could you send us a screenshot and the time it happened?",
    "We deployed a fix; can you try again?",
    "This is now resolved. Let us know if anything is still off.",
]
COMMENTS = ["Quick and friendly", "Took a while but solved", "Great help", "Had to ask twice", ""]


def seed(*, stdout: TextIO) -> None:
    if Contact.objects.filter(email="customer0@example.com", tickets__isnull=False).exists():
        stdout.write("Demo support tickets already present; skipped.\n")
        return
    rng = random.Random(SEED)  # noqa: S311 - demo data, deterministic on purpose
    now = timezone.now()
    agents = list(get_user_model().objects.filter(groups__name="Support Team").order_by("username")) or list(
        get_user_model().objects.filter(is_superuser=True)[:1]
    )
    service_list = list(Service.objects.order_by("slug")[:6])
    tiers = sorted(get_policy().support.tiers)
    with transaction.atomic():
        contacts = [
            services.contact_for(email=f"customer{n}@example.com", name=f"Customer {n}", organisation=f"Org {n % 7}")
            for n in range(40)
        ]
        for _ in range(TICKETS):
            opened = now - timedelta(days=180) + timedelta(minutes=int(rng.random() * 180 * 24 * 60))
            priority = rng.choices(tiers, weights=[1, 3, 6, 4][: len(tiers)] or None)[0]
            subject, category = rng.choice(SUBJECTS)
            contact = rng.choice(contacts)
            ticket = services.create_ticket(
                subject=subject,
                description=f"{subject}. Seen by {contact.name}.",
                requester_email=contact.email,
                priority=priority,
                service=rng.choice(service_list) if service_list and priority != "P1" else None,
                category=category,
                tags=[MARKER],
                channel=rng.choice(["email", "web", "phone"]),
                acknowledge=False,
                at=opened,
            )
            agent = rng.choice(agents) if agents else None
            breach = rng.random() < 0.08
            first = sla.tier_clock(priority, "response").length * (1.3 if breach else rng.uniform(0.1, 0.7))
            reply_at = opened + first
            if reply_at > now:
                continue
            if agent is not None:
                services.assign(ticket=ticket, assignee=agent, actor=agent, at=opened + first / 2)
            services.reply(ticket=ticket, body=rng.choice(REPLIES), actor=agent, at=reply_at)
            resolve_at = reply_at + timedelta(hours=rng.uniform(0.5, 60))
            if resolve_at > now or rng.random() < 0.05:
                continue
            services.set_status(ticket=ticket, status=TicketStatus.RESOLVED, actor=agent, at=resolve_at)
            if rng.random() < 0.6:
                rating = rng.choices([5, 4, 3, 2, 1], weights=[55, 28, 10, 4, 3])[0]
                answered = min(now, resolve_at + timedelta(hours=rng.uniform(1, 48)))
                ticket.refresh_from_db()
                services.record_rating(
                    token=services.survey_token(ticket.survey),
                    rating=rating,
                    comment=rng.choice(COMMENTS),
                    at=answered,
                )
        services.run_sla_cycle(now=now)
        services.auto_close(now=now)
        _seed_nps(rng, contacts, now)
        _seed_articles(now)
        # Demo mail is never delivered.
        OutgoingEmail.objects.filter(status=OutboxStatus.PENDING).update(status=OutboxStatus.SENT, sent_at=now)
    stdout.write(f"Demo support: {Ticket.objects.count()} tickets, 1 NPS campaign, 20 articles.\n")


def _seed_nps(rng: random.Random, contacts: list[Contact], now: datetime) -> None:
    sent_at = now - timedelta(days=40)
    campaign = NpsCampaign.objects.create(name="Spring NPS", sent_at=sent_at)
    for contact in contacts:
        score = rng.choices(range(11), weights=[1, 1, 1, 1, 2, 2, 3, 6, 10, 12, 10])[0]
        answered = rng.random() < 0.7
        NpsResponse.objects.create(
            campaign=campaign,
            contact=contact,
            sent_at=sent_at,
            score=score if answered else None,
            answered_at=sent_at + timedelta(days=rng.uniform(0.1, 5)) if answered else None,
            comment=rng.choice(["Support is fast", "Pricing is unclear", "Reports are slow", ""]) if answered else "",
            categories=[rng.choice(["support", "pricing", "performance"])] if answered else [],
        )
        Contact.objects.filter(pk=contact.pk).update(last_nps_survey_at=sent_at)


def _seed_articles(now: datetime) -> None:
    how_to, _ = ArticleCategory.objects.get_or_create(slug="how-to", defaults={"name": "How-to"})
    training, _ = ArticleCategory.objects.get_or_create(
        slug="training", defaults={"name": "Training", "is_training": True, "audience": "New support agents"}
    )
    for n in range(20):
        subject, category = SUBJECTS[n % len(SUBJECTS)]
        Article.objects.get_or_create(
            slug=f"demo-article-{n + 1}",
            defaults={
                "title": f"{category}: {subject.lower()} ({n + 1})",
                "body": f"## {subject}\n\n1. Check the status page.\n2. Try again.\n3. Contact support.",
                "category": training if n % 5 == 0 else how_to,
                "visibility": Visibility.INTERNAL if n % 4 == 0 else Visibility.PUBLIC,
                "review_due_at": now + timedelta(days=30 * (n % 6) - 20),
            },
        )
