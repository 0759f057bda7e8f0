"""Every paginated list page of every app, past its first page, on the demo data.

`includes/pagination.html` links to the other pages with the list's query string; a view that passed
neither `list_context` nor `page_context` made the page fail (500) as soon as its list had a second page.
Here the page size is 2, so the demo data gives each list more than one page.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from opsgov import listing
from security.models import AccessReviewCampaign

pytestmark = pytest.mark.django_db

#: The list pages that page their rows through opsgov.listing and includes/pagination.html.
LISTS = [
    "team-list",
    "service-list",
    "incident-list",
    "review-list",
    "action-item-list",
    "monitoring:alert-rule-list",
    "monitoring:runbook-list",
    "monitoring:slo-list",
    "maintenance:change-list",
    "maintenance:host-list",
    "maintenance:log-list",
    "backups:job-list",
    "backups:restore-list",
    "backups:drill-list",
    "backups:plan-list",
    "security:finding-list",
    "security:asset-list",
    "security:alert-list",
    "security:assessment-list",
    "compliance-calendar",
]

NEXT = re.compile(r'<a href="\?([^"]*)" rel="next">')


def test_every_list_page_links_to_its_next_page_and_the_next_page_renders(
    client: Client, make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    call_command("seed_demo", allow_without_debug=True, stdout=io.StringIO())
    monkeypatch.setattr(listing, "PAGE_SIZE", 2)
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    campaign = AccessReviewCampaign.objects.order_by("pk").first()
    assert campaign is not None
    urls = [reverse(name) for name in LISTS] + [reverse("security:access-review-detail", args=[campaign.pk])]
    paged = []
    for url in urls:
        first = client.get(url)
        assert first.status_code == 200, url
        html = first.content.decode()
        if "Page 1 of" not in html:
            continue
        paged.append(url)
        link = NEXT.search(html)
        assert link is not None, f"{url}: no link to the next page"
        assert "page=2" in link.group(1), url
        second = client.get(f"{url}?{link.group(1).replace('&amp;', '&')}")
        assert second.status_code == 200, url
        assert "Page 2 of" in second.content.decode(), url
    # The demo fills most lists past two rows: the check above is not vacuous.
    assert len(paged) >= 15, paged

    # A list without a filter bar keeps the rest of its query string (here the "only flagged" tab) in its links.
    monkeypatch.setattr(listing, "PAGE_SIZE", 1)  # the demo flags two changes
    html = client.get(reverse("maintenance:change-list"), {"flagged": "1", "page": "1"}).content.decode()
    link = NEXT.search(html)
    assert link is not None
    assert link.group(1).replace("&amp;", "&") == "flagged=1&page=2"
