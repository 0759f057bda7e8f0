"""An agent works a ticket in a real browser (Debian's Chromium): the queue, the ticket, a reply, resolving it.

The SLA clocks show in words and colour and refresh in place (htmx polling /support/clocks/, allowed by the
CSP: no inline script); the checkboxes of the queue are there for bulk changes. Screenshots are kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from opsgov.roles import SUPPORT_TEAM
from support import services, views
from support.models import Ticket, TicketStatus

PASSWORD = "correct horse battery staple"  # UserFactory's password

pytestmark = [pytest.mark.integration]

#: The P1's first response was due 15 minutes after it opened, 20 minutes before the test starts.
OVERDUE = re.compile(r"^overdue by [5-9] min$")


@pytest.fixture
def agent(transactional_db: None, make_user: Callable[..., User]) -> User:
    return make_user("agent", SUPPORT_TEAM, email="agent@example.com")


def test_an_agent_works_a_ticket_from_the_queue_to_resolved(
    agent: User,
    browser: Browser,
    live_server: LiveServer,
    screenshots: Callable[[Page, str], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(views, "CLOCK_REFRESH_SECONDS", 1)  # the pages poll every second in this test
    now = timezone.now()
    late = services.create_ticket(
        subject="Checkout is down",
        description="Customers cannot pay.",
        requester_email="ana@customer.test",
        priority="P1",
        at=now - timedelta(minutes=20),
    )
    calm = services.create_ticket(
        subject="Invoice address", description="Please update it.", requester_email="bo@customer.test", priority="P3"
    )
    base = live_server.url
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(base + "/support/")
    page.get_by_label("Username").fill("agent")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(base + "/support/")

    # The queue: both tickets, a checkbox each, the P1's first response overdue in words and in red.
    expect(page.get_by_label(f"Select {late.public_id}")).to_be_visible()
    expect(page.get_by_label(f"Select {calm.public_id}")).to_be_visible()
    response_clock = page.locator(f"#clock-{late.number}-response")
    expect(response_clock).to_have_text(OVERDUE)
    expect(response_clock).to_have_class("badge badge-danger")
    expect(page.locator(f"#clock-{calm.number}-response")).to_have_class("badge badge-success")
    # Live: the clock refreshes in place (here the target moved, its at-risk instant still past: amber).
    page.get_by_label(f"Select {calm.public_id}").check()
    Ticket.objects.filter(pk=late.pk).update(response_due_at=timezone.now() + timedelta(minutes=30, seconds=30))
    expect(response_clock).to_have_text(re.compile(r"^due in (29|30) min \(at risk\)$"), timeout=10_000)
    expect(response_clock).to_have_class("badge badge-warning")
    expect(page.get_by_label(f"Select {calm.public_id}")).to_be_checked()  # the refresh kept the tick
    Ticket.objects.filter(pk=late.pk).update(response_due_at=late.response_due_at)
    expect(response_clock).to_have_text(OVERDUE, timeout=10_000)
    screenshots(page, "support-1-queue")

    # The ticket: its clocks in words and colour.
    page.get_by_role("link", name=late.public_id).click()
    expect(page).to_have_url(base + late.get_absolute_url())
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{late.public_id} Checkout is down")
    expect(page.locator(f"#clock-{late.number}-response")).to_have_text(OVERDUE)
    expect(page.locator(f"#clock-{late.number}-response")).to_have_class("badge badge-danger")
    expect(page.locator(f"#clock-{late.number}-resolution")).to_have_text(re.compile(r"^due in 3 h (3[0-9]|40) min$"))
    screenshots(page, "support-2-ticket")

    # A public reply stops the first-response clock.
    page.locator("textarea[name=body]").fill("We are on it: payments fail over to the second provider.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(f"#clock-{late.number}-response")).to_have_text("responded")
    expect(page.locator(f"#clock-{late.number}-response")).to_have_class("badge badge-success")
    expect(page.locator("article.message-reply")).to_contain_text("second provider")

    # Resolving stops the resolution clock; the ticket leaves the open queue.
    page.locator("form[action$='/update/'] select[name=status]").select_option("resolved")
    page.get_by_role("button", name="Update").click()
    expect(page.locator(f"#clock-{late.number}-resolution")).to_have_text("resolved")
    expect(page.locator(f"#clock-{late.number}-resolution")).to_have_class("badge badge-success")
    expect(page.locator("dl.facts")).to_contain_text("Resolved")
    screenshots(page, "support-3-resolved")
    late.refresh_from_db()
    assert late.status == TicketStatus.RESOLVED and late.first_response_at is not None
    page.goto(base + "/support/")
    expect(page.get_by_label(f"Select {calm.public_id}")).to_be_visible()
    expect(page.get_by_label(f"Select {late.public_id}")).to_have_count(0)
    page.close()  # stops the polling before the live server goes
    assert errors == [], errors  # no CSP violation, no script error
