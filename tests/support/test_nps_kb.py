"""NPS campaigns and answers; the knowledge base: sanitised Markdown, search, suggestions, votes, reviews."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from support import knowledge, metrics, nps, selectors
from support.models import ArticleCategory, Contact, MailKind, NpsCampaign, OutgoingEmail, Visibility

pytestmark = pytest.mark.django_db


def test_a_campaign_skips_recently_surveyed_and_bounced_contacts() -> None:
    now = timezone.now()
    fresh = Contact.objects.create(email="fresh@x.test")
    recent = Contact.objects.create(email="recent@x.test", last_nps_survey_at=now - timedelta(days=30))
    old = Contact.objects.create(email="old@x.test", last_nps_survey_at=now - timedelta(days=100))
    bounced = Contact.objects.create(email="gone@x.test", bounced_at=now)
    campaign = NpsCampaign.objects.create(name="Q1")
    assert nps.send_campaign(campaign=campaign, contacts=[fresh, recent, old, bounced], now=now) == 2
    assert sorted(OutgoingEmail.objects.filter(kind=MailKind.NPS).values_list("to", flat=True)) == [
        "fresh@x.test",
        "old@x.test",
    ]
    # A second campaign the same day reaches nobody (3 months between surveys per contact).
    assert nps.send_campaign(campaign=NpsCampaign.objects.create(name="again"), contacts=[fresh, old], now=now) == 0


def test_answers_score_the_nps_and_comments_are_counted_by_category() -> None:
    campaign = NpsCampaign.objects.create(name="Q1")
    contacts = [Contact.objects.create(email=f"c{n}@x.test") for n in range(5)]
    nps.send_campaign(campaign=campaign, contacts=contacts)
    links = [re.search(r"/support/nps/(\S+)/", m.text).group(0) for m in OutgoingEmail.objects.order_by("pk")]  # type: ignore[union-attr]
    answers = [(10, "Support answered fast"), (9, ""), (8, "pricing is fine"), (6, "too expensive"), (0, "slow")]
    client = Client()
    assert client.get(links[0]).status_code == 200
    for link, (score, comment) in zip(links, answers, strict=True):
        assert client.post(link, {"score": str(score), "comment": comment}).status_code == 200
    assert client.post(links[0], {"score": "0"}).status_code == 410
    # 2 promoters, 1 passive, 2 detractors of 5: (2 - 2) / 5 = 0.
    [value] = metrics.compute_nps(window="90d", now=timezone.now())
    assert (value.value, value.sample_size, value.details["promoters"], value.details["detractors"]) == (0.0, 5, 2, 2)
    assert metrics.nps([10, 10, 10, 7]) == 75.0  # 3 promoters of 4, no detractor
    counts = nps.category_counts(since=timezone.now() - timedelta(days=1))
    assert counts == {"performance": 2, "pricing": 2, "support": 1}  # "fast" and "slow"; "pricing", "expensive"


def test_articles_render_sanitised_are_found_and_voted_on(agent: User) -> None:
    category = ArticleCategory.objects.create(slug="how-to", name="How-to")
    article = knowledge.create_article(
        slug="reset-password",
        title="Reset a password",
        category=category,
        visibility=Visibility.PUBLIC,
        body='## Steps\n\n<script>alert(1)</script>[ok](https://x.test) <a href="javascript:alert(1)">x</a>',
        at=datetime(2026, 1, 15, 10, tzinfo=UTC),
    )
    assert article.review_due_at == datetime(2026, 7, 15, 10, tzinfo=UTC)  # 6 months (policy)
    html = knowledge.render(article.body)
    assert "<h2>Steps</h2>" in html and "<script" not in html and "javascript:" not in html
    assert 'rel="noopener noreferrer"' in html
    internal = knowledge.create_article(
        slug="internal",
        title="Password reset runbook",
        category=category,
        visibility=Visibility.INTERNAL,
        body="internal steps",
    )
    assert selectors.suggested_articles("Cannot reset my password", public_only=True) == [article]
    assert set(selectors.suggested_articles("password reset", public_only=False)) == {article, internal}
    client = Client()
    client.post(f"/support/kb/{article.slug}/vote/", {"helpful": "yes"})
    client.post(f"/support/kb/{article.slug}/vote/", {"helpful": "no"})
    assert client.post(f"/support/kb/{internal.slug}/vote/", {"helpful": "yes"}).status_code == 404
    article.refresh_from_db()
    assert (article.helpful_yes, article.helpful_no) == (1, 1)
    signed_in = Client()
    signed_in.force_login(agent)
    assert "Reset a password" in signed_in.get("/support/kb/?q=password").content.decode()
    reviewed = knowledge.mark_reviewed(article=article, at=datetime(2026, 7, 1, 9, tzinfo=UTC))
    assert reviewed.review_due_at == datetime(2027, 1, 1, 9, tzinfo=UTC)
