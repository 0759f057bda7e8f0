"""The support box on the dashboard (and its "needs attention" items) and the weekly report's support section."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from opsgov.reports import services as reports
from opsgov.reports.services import ReportPeriod
from opsgov.roles import SRE_LEAD
from support import dashboard_panels, services
from support.models import TicketStatus

pytestmark = pytest.mark.django_db


def test_the_panel_counts_the_open_backlog_and_lists_tickets_past_their_targets(
    agent: User, make_user: Callable[..., User]
) -> None:
    now = timezone.now()
    late = services.create_ticket(
        subject="Down", description="x", requester_email="a@x.test", priority="P1", at=now - timedelta(minutes=20)
    )
    mine = services.create_ticket(subject="Slow", description="x", requester_email="b@x.test", priority="P3")
    services.assign(ticket=mine, assignee=agent, actor=agent)
    waiting = services.create_ticket(subject="Wait", description="x", requester_email="c@x.test")
    services.set_status(ticket=waiting, status=TicketStatus.WAITING, actor=agent)
    closed = services.create_ticket(subject="Done", description="x", requester_email="d@x.test")
    services.set_status(ticket=closed, status=TicketStatus.CLOSED, actor=agent)
    context = dashboard_panels.support_context(now=timezone.now())
    assert {row["queue"]: row["count"] for row in context["rows"]} == {
        "all": "3",
        "unassigned": "2",
        "breaching": "1",
        "waiting": "1",
    }
    assert [ticket for ticket, _ in context["breaching"]] == [late]
    attention = dashboard_panels.overdue_tickets(now=timezone.now())
    assert [(item.label, item.text, item.url) for item in attention] == [
        ("SLA breached", f"{late.public_id} Down (P1)", late.get_absolute_url())
    ]
    assert attention[0].detail == "first response overdue by 5 min"
    client = Client()
    client.force_login(make_user("lead", SRE_LEAD))
    page = client.get("/").content.decode()
    assert "Support queues" in page and "3 open tickets" in page and f"{late.public_id} Down (P1)" in page


def test_the_panel_says_so_when_nothing_is_open() -> None:
    context = dashboard_panels.support_context(now=timezone.now())
    assert context["total"] == "0" and context["breaching"] == []
    assert dashboard_panels.overdue_tickets(now=timezone.now()) == []


def test_the_weekly_report_counts_the_weeks_tickets_breaches_and_ratings(agent: User) -> None:
    # The week Mon 23 Nov - Sun 29 Nov 2026 (UTC, the default policy's zone).
    monday = datetime(2026, 11, 23, 9, tzinfo=UTC)
    with time_machine.travel(monday, tick=False):
        p1 = services.create_ticket(subject="Outage", description="x", requester_email="a@x.test", priority="P1")
        p3 = services.create_ticket(subject="Question", description="x", requester_email="b@x.test", priority="P3")
        services.assign(ticket=p3, assignee=agent, actor=agent)
    with time_machine.travel(monday + timedelta(hours=1), tick=False):
        services.run_sla_cycle()  # P1's first response was due at 09:15: one breach
        services.reply(ticket=p3, body="Answer", actor=agent)
        p3 = services.set_status(ticket=p3, status=TicketStatus.RESOLVED, actor=agent)
        services.record_rating(token=services.survey_token(p3.survey), rating=2)
    with time_machine.travel(datetime(2026, 11, 16, 9, tzinfo=UTC), tick=False):  # the week before: not counted
        services.create_ticket(subject="Earlier", description="x", requester_email="c@x.test", priority="P2")
    with time_machine.travel(datetime(2026, 11, 30, 7, tzinfo=UTC), tick=False):
        period = ReportPeriod.last_complete("weekly", timezone.now())
        section = reports.build_report(kind="weekly", period=period).section("support")
    assert section.summary == (
        "2 tickets opened, 1 ticket resolved, 1 SLA breach; CSAT 2.00 / 5 over 1 answer "
        "(too few answers to judge: the policy asks for 10), 1 rated 1 or 2."
    )
    assert [[cell.text for cell in row] for row in section.tables[0].rows] == [
        ["P1", "1"],
        ["P2", "0"],
        ["P3", "1"],
        ["P4", "0"],
    ]
    breach = section.tables[1].rows[0]
    assert [cell.text for cell in breach[:4]] == [f"{p1.public_id} Outage", "P1", "First response", "Mon 23 Nov 09:15"]
    assert breach[0].url == p1.get_absolute_url()
