"""NPS surveys: campaigns to contacts (never more often than the policy's period per contact), 0-10 answers
through a signed link, comments tagged by category.

NPS = % promoters (9-10) - % detractors (0-6) (support.metrics.nps).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from opsgov.policy import get_policy

from .mail_out import queue_email
from .models import Contact, MailKind, NpsCampaign, NpsResponse
from .services import base_url

_SALT = "support.nps"

#: Comment categories and the words that put a comment in them (lower-case, substring match).
CATEGORIES: dict[str, tuple[str, ...]] = {
    "support": ("support", "help", "agent", "answer", "response"),
    "pricing": ("price", "pricing", "cost", "expensive", "invoice"),
    "performance": ("slow", "fast", "speed", "performance", "timeout"),
    "usability": ("confusing", "easy", "hard to", "interface", "ui"),
    "reliability": ("down", "outage", "error", "bug", "crash"),
}


class NpsLinkError(Exception):
    """A survey link that cannot be used (tampered with, or already answered)."""


def categorise(comment: str) -> list[str]:
    text = comment.lower()
    return [name for name, words in CATEGORIES.items() if any(word in text for word in words)]


def token(response: NpsResponse) -> str:
    return signing.dumps({"r": response.pk}, salt=_SALT)


@transaction.atomic
def send_campaign(*, campaign: NpsCampaign, contacts: Iterable[Contact], now: datetime | None = None) -> int:
    """Survey `contacts`, skipping bounced ones and those surveyed within ``support.nps_min_interval``."""
    now = now or timezone.now()
    interval = get_policy().support.nps_min_interval
    sent = 0
    # As stored now (locked): a contact surveyed by a concurrent campaign is skipped here.
    current = Contact.objects.select_for_update().filter(pk__in=[contact.pk for contact in contacts]).order_by("pk")
    for contact in current:
        if contact.bounced_at is not None:
            continue
        if contact.last_nps_survey_at is not None and interval.after(contact.last_nps_survey_at) > now:
            continue
        response, created = NpsResponse.objects.get_or_create(
            campaign=campaign, contact=contact, defaults={"sent_at": now}
        )
        if not created:
            continue
        url = f"{base_url()}{reverse('support-nps', kwargs={'token': token(response)})}"
        queue_email(
            kind=MailKind.NPS,
            to=contact.email,
            contact=contact,
            subject="How likely are you to recommend us?",
            text=f"On a scale of 0 to 10, how likely are you to recommend us to a colleague?\n\n{url}\n",
            now=now,
        )
        Contact.objects.filter(pk=contact.pk).update(last_nps_survey_at=now)
        sent += 1
    NpsCampaign.objects.filter(pk=campaign.pk, sent_at__isnull=True).update(sent_at=now)
    return sent


@dataclass
class CampaignPlan:
    """Who a campaign would survey now, and why the others are left out."""

    eligible: list[int] = field(default_factory=list)  # contact pks, ascending
    bounced: int = 0
    recent: int = 0  # surveyed within the policy's period (support.nps_min_interval)
    already: int = 0  # already surveyed in this campaign

    def as_dict(self) -> dict[str, int]:
        return {"eligible": len(self.eligible), "bounced": self.bounced, "recent": self.recent, "already": self.already}


def plan_campaign(*, campaign: NpsCampaign, contacts: Iterable[int] | None = None, now: datetime) -> CampaignPlan:
    """Read-only: which of `contacts` (pks; every contact when None) `campaign` would survey at `now`.

    `campaign` may be unsaved (a dry run of a campaign not created yet)."""
    interval = get_policy().support.nps_min_interval
    rows = Contact.objects.order_by("pk")
    if contacts is not None:
        rows = rows.filter(pk__in=list(contacts))
    surveyed = (
        set(NpsResponse.objects.filter(campaign=campaign).values_list("contact_id", flat=True))
        if campaign.pk
        else set()
    )
    plan = CampaignPlan()
    for pk, bounced_at, last in rows.values_list("pk", "bounced_at", "last_nps_survey_at"):
        if pk in surveyed:
            plan.already += 1
        elif bounced_at is not None:
            plan.bounced += 1
        elif last is not None and interval.after(last) > now:
            plan.recent += 1
        else:
            plan.eligible.append(pk)
    return plan


def run_campaign(
    *,
    campaign: NpsCampaign,
    contacts: Iterable[int] | None = None,
    now: datetime | None = None,
    batch: int = 200,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[CampaignPlan, int]:
    """Survey the eligible contacts of `campaign` in batches of `batch` (one transaction each; send_campaign
    re-checks every contact under lock, so a concurrent run never surveys anyone twice). `progress(done, total)`
    is called after each batch. Returns the plan and how many surveys were queued in the outbox."""
    now = now or timezone.now()
    plan = plan_campaign(campaign=campaign, contacts=contacts, now=now)
    sent = 0
    for start in range(0, len(plan.eligible), batch):
        chunk = Contact.objects.filter(pk__in=plan.eligible[start : start + batch])
        sent += send_campaign(campaign=campaign, contacts=chunk, now=now)
        if progress:
            progress(min(start + batch, len(plan.eligible)), len(plan.eligible))
    return plan, sent


def response_for_token(value: str) -> NpsResponse:
    try:
        response = NpsResponse.objects.get(pk=int(signing.loads(value, salt=_SALT)["r"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError, NpsResponse.DoesNotExist):
        raise NpsLinkError("This survey link is not valid.") from None
    if response.score is not None:
        raise NpsLinkError("You already answered this survey. Thank you!")
    return response


def record(*, value: str, score: int, comment: str = "", at: datetime | None = None) -> NpsResponse:
    """Record an answer once (a conditional update)."""
    if score not in range(11):
        raise NpsLinkError("Choose a score from 0 to 10.")
    response = response_for_token(value)
    updated = NpsResponse.objects.filter(pk=response.pk, score__isnull=True).update(
        score=score, comment=comment[:5000], categories=categorise(comment), answered_at=at or timezone.now()
    )
    if updated != 1:
        raise NpsLinkError("You already answered this survey. Thank you!")
    response.refresh_from_db()
    return response


def category_counts(*, since: datetime) -> dict[str, int]:
    """Answered comments per category since `since`."""
    counts: Counter[str] = Counter()
    for categories in NpsResponse.objects.filter(answered_at__gte=since).values_list("categories", flat=True):
        counts.update(categories or [])
    return dict(sorted(counts.items()))
