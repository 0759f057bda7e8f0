"""The dashboard in a real browser: log in, read the eight gates and the metrics table, open a failing
gate, follow one of its evidence links, and keep screenshots of each step as test artifacts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from opsgov import dashboard, services
from opsgov.models import GateStatus, MetricSnapshot, ServiceTier
from opsgov.roles import SRE_LEAD

from ..factories import ServiceFactory, TeamFactory
from ..incidents.factories import IncidentFactory

PASSWORD = "correct horse battery staple"  # UserFactory's password

pytestmark = [pytest.mark.integration]


def gate_pages_installed() -> bool:
    """Whether the gate pages (/gates/<key>/, opsgov.gates.views) are part of this build."""
    try:
        reverse("gate-detail", kwargs={"key": "incident_management"})
    except NoReverseMatch:
        return False
    return True


@pytest.fixture
def lead(transactional_db: None, make_user: Callable[..., User]) -> User:
    """An SRE lead, services without an escalation path (a failing gate), an open SEV-1, two metrics."""
    payments = TeamFactory.create(slug="payments", name="Payments")
    checkout = ServiceFactory.create(slug="checkout", name="Checkout", owner_team=payments, tier=ServiceTier.TIER_1)
    ServiceFactory.create(slug="ledger", name="Ledger", owner_team=payments)
    IncidentFactory.create(service=checkout, severity="SEV-1", title="Card payments failing")
    now = timezone.now()
    rows = [
        MetricSnapshot(
            metric="mtta", scope="global", window="30d", value=mtta, computed_at=now - timedelta(days=days),
            is_current=days == 0,
        )
        for days, mtta in ((2, 720.0), (1, 660.0), (0, 540.0))  # under 15 minutes: met
    ]  # fmt: skip
    rows.append(MetricSnapshot(metric="mttr", scope="global", window="30d", value=6 * 3600.0, computed_at=now))
    services.record_trend(MetricSnapshot.objects.bulk_create(rows))
    return make_user("lead", SRE_LEAD, first_name="Robin", last_name="Lead")


def test_a_lead_reads_the_dashboard_opens_a_failing_gate_and_follows_its_evidence(
    lead: User, browser: Browser, live_server: LiveServer, screenshots: Callable[[Page, str], Path]
) -> None:
    base = live_server.url
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(base + "/")
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(base + "/")

    # The eight gates, status in words; services without escalation fail incident management.
    expect(page.get_by_role("heading", name="Operations dashboard", level=1)).to_be_visible()
    gates = page.locator("ol.gates > li.gate")
    expect(gates).to_have_count(8)
    failing = page.locator("#gate-incident_management")
    expect(failing.locator(".gate-status")).to_have_text("Status: Fail")
    expect(failing).to_contain_text("2 failing evidence rows")
    expect(page.locator("li.gate-pass")).to_have_count(0)

    # The metrics table: the seed's seven targets and every other registered metric, measured or "no data".
    table = page.locator("#metrics-table")
    rows = len(dashboard.metric_specs())
    expect(table.locator("tbody tr")).to_have_count(rows)
    expect(table.locator("#metric-mtta")).to_contain_text("9 min")
    expect(table.locator("#metric-mtta")).to_contain_text("Met")
    expect(table.locator("#metric-mtta svg.sparkline path")).to_have_count(1)
    expect(table.locator("#metric-mttr")).to_contain_text("Missed")
    expect(table.locator("#metric-availability")).to_contain_text("No data")
    expect(table.locator(".verdict-no_data")).to_have_count(rows - 2)  # all but MTTA and MTTR
    expect(page.locator("#panel-open-incidents")).to_contain_text("1 open incident")
    expect(page.locator("#panel-on-call")).to_contain_text("No on-call schedules yet")
    screenshots(page, "dashboard")

    # Open the failing gate.
    failing.locator("a.gate-link").click()
    expect(page).to_have_url(base + "/gates/incident_management/")
    screenshots(page, "gate")

    # Follow an evidence link: from the gate page where it lists the evidence; in a build
    # without the gate pages, from the failing evidence the dashboard lists under the gate.
    evidence = page.locator('main a[href="/services/checkout/"]').first
    if not gate_pages_installed():
        page.go_back()
        expect(page).to_have_url(base + "/")
        evidence = failing.locator("a.evidence-link", has_text="Checkout")
    evidence.click()
    expect(page).to_have_url(base + "/services/checkout/")
    expect(page.get_by_role("heading", name="Checkout", level=1)).to_be_visible()
    path = screenshots(page, "evidence")
    assert path.parent.name == "artifacts"
    page.close()


@pytest.mark.parametrize("width", [1101, 1280, 1366])
def test_the_gate_status_tiles_share_one_row_at_common_laptop_widths(
    lead: User, browser: Browser, live_server: LiveServer, screenshots: Callable[[Page, str], Path], width: int
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    tiles = page.locator("#gate-list ul.summary > li.summary-item")
    expect(tiles).to_have_count(len(GateStatus))  # pass, at risk, fail, no evidence, waived
    expect(tiles.last).to_contain_text("Waived")
    boxes = [tiles.nth(index).bounding_box() for index in range(len(GateStatus))]
    badges = [tiles.nth(index).locator(".badge").bounding_box() for index in range(len(GateStatus))]
    screenshots(page, f"gate-summary-{width}")
    assert all(boxes) and all(badges)
    # One row: every tile starts at the same height, none is pushed onto a line of its own.
    assert len({round(box["y"]) for box in boxes if box}) == 1, boxes
    # And each status in words fits inside its tile (no badge spilling over the tile's edge).
    for box, badge in zip(boxes, badges, strict=True):
        assert box and badge and badge["x"] + badge["width"] <= box["x"] + box["width"], (box, badge)
    if width >= 1280:  # room enough for each count and its words side by side, alike in every tile
        assert len({round(badge["y"]) for badge in badges if badge}) == 1, badges
    page.close()
