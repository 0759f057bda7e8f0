"""The Content-Security-Policy in a real browser: the main pages, the admin and the API docs load with no
violation reported and keep working (htmx polls and swaps, the admin's scripts run, Swagger UI and
ReDoc render), and the API docs pages complete with every request to anywhere but loopback blocked,
without trying one.

Violations are collected two ways: a `securitypolicyviolation` listener in every document (reported
through a Playwright binding, so navigations lose nothing) and Chromium's console errors, which name
refused inline code and workers that the event does not always reach.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, expect
from pytest_django.live_server_helper import LiveServer

from incidents.models import Incident
from opsgov import views as core_views
from opsgov.roles import SRE_LEAD

from ..factories import ServiceFactory, TeamFactory
from ..incidents.factories import IncidentFactory

PASSWORD = "correct horse battery staple"  # UserFactory's password

pytestmark = [pytest.mark.integration]

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation({
    directive: event.effectiveDirective, blocked: event.blockedURI, page: document.location.pathname,
    sample: event.sample, source: event.sourceFile + ":" + event.lineNumber,
  });
});
"""


#: ReDoc 2's side menu always shows this logo (no option turns it off). The policy refuses it, so it is
#: never requested (opsgov.csp); that refusal is the one violation the docs pages are allowed.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@dataclass
class Watch:
    """What a page reported: CSP violations, console errors, requests to another origin."""

    violations: list[dict[str, Any]] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        """Nothing reported but the refused ReDoc logo (at most once per ReDoc page load)."""
        violations = [v for v in self.violations if (v["directive"], v["blocked"]) != ("img-src", REDOC_LOGO)]
        errors = [text for text in self.console_errors if f"Loading the image '{REDOC_LOGO}'" not in text]
        assert violations == [], "\n".join(map(str, violations))
        assert errors == [], "\n".join(errors + self.failed)
        assert self.failed == []
        assert self.external == []


def watch(page: Page, *, block_external: bool = False) -> Watch:
    seen = Watch()
    page.expose_binding("reportViolation", lambda _source, report: seen.violations.append(report))
    page.add_init_script(REPORT_VIOLATIONS)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.console_errors.append(message.text)

    page.on("console", console)
    page.on(
        "response",
        lambda response: seen.failed.append(f"{response.status} {response.url}") if response.status >= 400 else None,
    )
    if block_external:

        def route(route: Route) -> None:
            url = route.request.url
            host = urlsplit(url).hostname
            if url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
                route.continue_()
            else:
                seen.external.append(url)
                route.abort("blockedbyclient")

        page.route("**/*", route)
    return seen


def log_in(page: Page, base: str) -> None:
    page.goto(base + "/accounts/login/")
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(base + "/")
    page.wait_for_load_state("load")


def assert_docs_pages_complete(page: Page, base: str) -> None:
    # Swagger UI: the operations of the schema, grouped by tag, one of them expanded.
    page.goto(base + "/api/v1/docs/")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible(timeout=15_000)
    expect(page.locator(".information-container .title")).to_contain_text("opsgov API")
    # A long schema's sections are rendered as they scroll into view (and those scrolled far past are
    # dropped): the last one (the ingestion endpoints) renders at the end of the page, so the whole
    # schema loaded; then back to the top and down to the services' operations.
    last_section = page.locator(".opblock-tag", has_text="ingest")
    for _ in range(120):
        if last_section.count():
            break
        page.mouse.wheel(0, 1500)
        page.wait_for_timeout(100)
    expect(last_section).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    services = page.locator(".opblock-summary", has_text="/api/v1/services/").first
    for _ in range(120):
        if services.count():
            break
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(100)
    services.scroll_into_view_if_needed()
    services.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    # ReDoc: the title, the side menu and an operation, styled (its <style> elements admitted by nonce).
    page.goto(base + "/api/v1/redoc/")
    title = page.locator("h1", has_text="opsgov API")
    # ReDoc lays out the whole schema (160 paths, eight areas) before it shows anything: on a busy
    # two-core machine that takes well over 15 s.
    expect(title).to_be_visible(timeout=60_000)
    expect(page.locator(".menu-content")).to_be_visible()
    expect(page.get_by_role("menuitem").first).to_be_visible()
    assert page.locator("style[nonce]").count() > 0
    assert page.evaluate("getComputedStyle(document.querySelector('.menu-content')).position") != "static"
    page.get_by_placeholder("Search...").fill("services")
    # ReDoc builds its search index after the layout, over the same whole schema: as slow, as above.
    expect(page.locator("[data-role='search:results'] li").first).to_be_visible(timeout=60_000)


@pytest.fixture
def lead(transactional_db: None, make_user: Callable[..., User]) -> User:
    """An SRE lead who is also a superuser (the admin), an open incident to look at."""
    payments = TeamFactory.create(slug="payments", name="Payments")
    checkout = ServiceFactory.create(slug="checkout", name="Checkout", owner_team=payments)
    IncidentFactory.create(service=checkout, severity="SEV-2", title="Card payments failing")
    return make_user("lead", SRE_LEAD, is_staff=True, is_superuser=True)


def test_the_main_pages_and_the_admin_work_under_the_policy(
    lead: User, browser: Browser, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core_views, "REFRESH_SECONDS", 1)
    base = live_server.url
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    seen = watch(page)
    log_in(page, base)
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
    assert page.evaluate("htmx.config.allowEval") is False

    # The dashboard polls itself with htmx: a request marked as htmx's, its fragment swapped in.
    with page.expect_response(lambda response: response.request.headers.get("hx-request") == "true"):
        pass
    expect(page.locator("#dashboard-region ol.gates > li.gate")).to_have_count(8)
    expect(page.locator("header.topbar")).to_have_count(1)

    page.goto(base + "/incidents/")
    row = page.get_by_role("row", name="Card payments failing")
    expect(row).to_be_visible()
    row.get_by_role("link").first.click()
    incident = Incident.objects.get(title="Card payments failing")
    expect(page.get_by_role("heading", level=1)).to_contain_text(incident.public_id)
    expect(page.get_by_role("main")).to_contain_text("Card payments failing")

    page.goto(base + "/admin/")
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    page.goto(base + "/admin/auth/user/")
    page.get_by_role("checkbox", name="Select all objects on this page").check()  # admin's actions.js
    expect(page.locator(".action-counter")).to_contain_text("1 of 1 selected")

    # DRF's browsable API (its style="" attributes are allowed there, opsgov.csp): its scripts run.
    page.goto(base + "/api/v1/services/")
    expect(page.locator(".response-info")).to_contain_text('"slug": "checkout"')
    page.get_by_role("button", name="Filters").click()  # Bootstrap's modal (jQuery)
    expect(page.locator("#filtersModal")).to_be_visible()
    seen.assert_clean()
    page.close()


def test_the_api_docs_work_under_the_policy_with_everything_but_loopback_blocked(
    lead: User, browser: Browser, live_server: LiveServer
) -> None:
    base = live_server.url
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    seen = watch(page, block_external=True)
    log_in(page, base)
    assert_docs_pages_complete(page, base)
    seen.assert_clean()
    page.close()
