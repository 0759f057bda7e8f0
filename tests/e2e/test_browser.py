"""The UI shell in a real browser: log in, see the eight gates, browse services and the policy.

Runs Debian's Chromium (/usr/bin/chromium) through Playwright (fixtures in conftest.py);
it never downloads a browser. Screenshots are test artifacts (conftest.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from opsgov.context_processors import NAVIGATION
from opsgov.models import Lifecycle, ServiceTier
from opsgov.roles import SRE_LEAD

from ..factories import ServiceFactory, TeamFactory

PASSWORD = "correct horse battery staple"  # UserFactory's password

pytestmark = [pytest.mark.integration]


@pytest.fixture
def lead(transactional_db: None, make_user: Callable[..., User]) -> User:
    """An SRE lead with a password, and a few services to look at (created before the browser starts)."""
    payments = TeamFactory(slug="payments", name="Payments", email="payments@example.com")
    platform = TeamFactory(slug="platform", name="Platform")
    ServiceFactory(slug="checkout", name="Checkout", owner_team=payments, tier=ServiceTier.TIER_1)
    ServiceFactory(slug="ledger", name="Ledger", owner_team=payments, tier=ServiceTier.TIER_2)
    ServiceFactory(
        slug="legacy-billing",
        name="Legacy billing",
        owner_team=payments,
        tier=ServiceTier.TIER_3,
        lifecycle=Lifecycle.DEPRECATED,
    )
    ServiceFactory(slug="ingress", name="Ingress gateway", owner_team=platform, tier=ServiceTier.TIER_1)
    return make_user("lead", SRE_LEAD, first_name="Robin", last_name="Lead")


def test_a_lead_logs_in_and_browses_gates_services_and_policy(
    lead: User, browser: Browser, live_server: LiveServer, screenshots: Callable[[Page, str], Path]
) -> None:
    base = live_server.url
    page = browser.new_page(viewport={"width": 1366, "height": 900})

    # Anonymous: sent to the login page.
    page.goto(base + "/")
    expect(page).to_have_url(base + "/accounts/login/?next=/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    screenshots(page, "login")

    # A wrong password is reported, a right one leads home.
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(base + "/")

    # Home: the eight gates; with services but no SLO and no escalation policy, monitoring and
    # incident management fail; nothing looks like a pass.
    expect(page.get_by_role("heading", name="Operations dashboard", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Quality gates", level=2)).to_be_visible()
    gates = page.locator("ol.gates > li.gate")
    expect(gates).to_have_count(8)
    expect(page.locator("li.gate-pass")).to_have_count(0)
    expect(gates.nth(0).locator(".gate-status")).to_have_text("Status: Fail")
    expect(gates.nth(1).locator(".gate-status")).to_have_text("Status: Fail")
    # The step apps' gates fail where an active service lacks their records (a backup job, a maintenance
    # window, a scanned asset) and say "no evidence" where nothing of theirs exists; none passes.
    for index in (2, 3, 4, 5, 6, 7):
        expect(gates.nth(index).locator(".gate-status")).to_have_text(re.compile(r"^Status: (Fail|No evidence)$"))
    expect(gates.first).to_contain_text("Monitoring and alerting active")
    expect(gates.last).to_contain_text("Backup and DR validated")
    expect(page.locator(".account")).to_contain_text("Robin Lead")
    expect(page.locator(".account")).to_contain_text(SRE_LEAD)
    # Areas without pages yet are shown, disabled.
    without_pages = [label for _, label, url_name in NAVIGATION if url_name is None]
    expect(page.locator(".sidebar [aria-disabled=true]")).to_have_count(len(without_pages))
    # The stylesheet and htmx are served from static/.
    assert page.evaluate("typeof htmx") == "object"
    topbar_colour = page.evaluate("getComputedStyle(document.querySelector('.topbar')).backgroundColor")
    assert topbar_colour not in ("rgba(0, 0, 0, 0)", "transparent")
    screenshots(page, "home")

    # The live part: a refresh swaps in the dashboard fragment only.
    with page.expect_response(lambda response: response.request.headers.get("hx-request") == "true"):
        page.evaluate("htmx.ajax('GET', '/', {target: '#dashboard-region', swap: 'innerHTML'})")
    expect(gates).to_have_count(8)
    expect(page.locator("header.topbar")).to_have_count(1)
    expect(page.locator("#gate-list")).to_have_count(1)

    # Services: the list, a filter, a detail page.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Services").click()
    expect(page).to_have_url(base + "/services/")
    expect(page.get_by_role("heading", name="Services", level=1)).to_be_visible()
    expect(page.locator("table.table tbody tr")).to_have_count(4)
    screenshots(page, "services")
    page.get_by_label("Tier 1 (critical)").check()
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("table.table tbody tr")).to_have_count(2)
    expect(page.locator("table.table")).to_contain_text("Checkout")
    expect(page.locator("table.table")).not_to_contain_text("Ledger")
    page.get_by_label("Search").fill("nothing like this")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("heading", name="No services match these filters")).to_be_visible()
    page.get_by_role("link", name="Clear", exact=True).click()
    page.get_by_role("link", name="Checkout").click()
    expect(page).to_have_url(base + "/services/checkout/")
    expect(page.get_by_role("heading", name="Checkout", level=1)).to_be_visible()
    page.get_by_role("main").get_by_role("link", name="Payments", exact=True).click()
    expect(page).to_have_url(base + "/teams/payments/")
    expect(page.locator("table.table tbody tr")).to_have_count(3)

    # Policy: every section with the seed's values.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Policy").click()
    expect(page).to_have_url(base + "/policy/")
    expect(page.get_by_role("heading", name="Operations policy")).to_be_visible()
    severities = page.locator("#incidents table")
    expect(severities.get_by_role("row", name="SEV-1")).to_contain_text("15 minutes")
    expect(severities.get_by_role("row", name="SEV-4")).to_contain_text("1 business day")
    expect(page.locator("#support table").get_by_role("row", name="P4")).to_contain_text("2 weeks")
    expect(page.locator("#targets")).to_contain_text("> 99.9 %")
    screenshots(page, "policy")

    # Log out (a POST form) and land on the login page.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(base + "/accounts/login/")
    page.close()
