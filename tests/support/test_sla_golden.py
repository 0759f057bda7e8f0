"""Golden tests of the SLA clocks, each due instant computed by hand (in the comments).

Policy: business calendar Europe/Berlin, 09:00-17:00 Monday to Friday, German public holidays;
P1/P2 around the clock, P3/P4 on business hours (the defaults); waiting on the customer pauses.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from support import services
from support.models import SlaBreach, Ticket, TicketStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("berlin")]


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def open_ticket(priority: str, at: datetime) -> Ticket:
    return services.create_ticket(
        subject="Invoices fail",
        description="Since this morning",
        requester_email="maria@customer.test",
        priority=priority,
        at=at,
        acknowledge=False,
    )


def test_a_p3_opened_friday_1650_counts_ten_minutes_then_resumes_monday() -> None:
    # Friday 6 March 2026 16:50 CET = 15:50 UTC.
    ticket = open_ticket("P3", utc(2026, 3, 6, 15, 50))
    # Response 4 business hours: 10 min on Friday, 3 h 50 from Monday 09:00 -> Monday 12:50 CET = 11:50 UTC.
    assert ticket.response_due_at == utc(2026, 3, 9, 11, 50)
    # At risk at 75 % = 3 h: 10 min Friday + 2 h 50 Monday -> 11:50 CET = 10:50 UTC.
    assert ticket.response_at_risk_at == utc(2026, 3, 9, 10, 50)
    # Resolution 1 week = 5 business days = 40 h: 10 min Fri, 8 h Mon-Thu (32 h), 7 h 50 Fri 13 March
    # -> 16:50 CET = 15:50 UTC.
    assert ticket.resolution_due_at == utc(2026, 3, 13, 15, 50)


def test_waiting_on_the_customer_over_a_weekend_pauses_a_24x7_clock(agent: object) -> None:
    # P2, Friday 6 March 16:00 UTC; resolution 24 h around the clock.
    ticket = open_ticket("P2", utc(2026, 3, 6, 16, 0))
    assert ticket.resolution_due_at == utc(2026, 3, 7, 16, 0)
    services.reply(ticket=ticket, body="Can you send a screenshot?", actor=agent, at=utc(2026, 3, 6, 16, 30))
    ticket = services.set_status(ticket=ticket, status=TicketStatus.WAITING, actor=agent, at=utc(2026, 3, 6, 18, 0))
    assert ticket.resolution_due_at is None  # paused
    contact = ticket.requester
    services.customer_message(ticket=ticket, contact=contact, body="Here it is", at=utc(2026, 3, 9, 8, 0))
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN
    # 2 h counted before the pause (16:00-18:00); 22 h left from Monday 08:00 -> Tuesday 06:00 UTC.
    assert ticket.resolution_due_at == utc(2026, 3, 10, 6, 0)


def test_public_holidays_do_not_count_on_business_hours() -> None:
    # P4 response 1 business day (8 h), Thursday 2 April 2026 15:00 CEST = 13:00 UTC.
    ticket = open_ticket("P4", utc(2026, 4, 2, 13, 0))
    # 2 h on Thursday; Good Friday (3 April) and Easter Monday (6 April) are German holidays;
    # 6 h from Tuesday 7 April 09:00 -> 15:00 CEST = 13:00 UTC.
    assert ticket.response_due_at == utc(2026, 4, 7, 13, 0)


def test_a_dst_change_keeps_24x7_clocks_in_real_hours_and_business_hours_local() -> None:
    # Clocks go forward in Berlin on Sunday 29 March 2026 at 02:00.
    # P1 resolution 4 h from 00:30 CET (23:30 UTC on the 28th) -> 03:30 UTC (05:30 CEST: 4 real hours).
    p1 = open_ticket("P1", utc(2026, 3, 28, 23, 30))
    assert p1.resolution_due_at == utc(2026, 3, 29, 3, 30)
    # P3 response 4 business hours from Friday 27 March 16:00 CET (15:00 UTC): 1 h Friday, 3 h from
    # Monday 30 March 09:00 CEST -> 12:00 CEST = 10:00 UTC.
    p3 = open_ticket("P3", utc(2026, 3, 27, 15, 0))
    assert p3.response_due_at == utc(2026, 3, 30, 10, 0)


def test_a_reopen_resumes_the_resolution_clock_where_it_stopped(agent: object) -> None:
    # P2 opened Monday 2 March 08:00 UTC, resolved at 10:00 (2 h counted), reopened by the customer
    # on Tuesday 10:00: 22 h left -> Wednesday 4 March 08:00 UTC.
    ticket = open_ticket("P2", utc(2026, 3, 2, 8, 0))
    services.reply(ticket=ticket, body="Fixed", actor=agent, at=utc(2026, 3, 2, 9, 0))
    services.set_status(ticket=ticket, status=TicketStatus.RESOLVED, actor=agent, at=utc(2026, 3, 2, 10, 0))
    services.customer_message(ticket=ticket, contact=ticket.requester, body="Broken again", at=utc(2026, 3, 3, 10, 0))
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN and ticket.resolved_at is None
    assert ticket.resolution_due_at == utc(2026, 3, 4, 8, 0)


def test_internal_notes_are_not_a_first_response_and_a_breach_is_recorded_once(agent: object) -> None:
    ticket = open_ticket("P1", utc(2026, 3, 2, 8, 0))  # response due 08:15
    services.add_note(ticket=ticket, body="Looking", actor=agent, at=utc(2026, 3, 2, 8, 5))
    ticket.refresh_from_db()
    assert ticket.first_response_at is None
    assert services.run_sla_cycle(now=utc(2026, 3, 2, 8, 16)) == 1
    assert services.run_sla_cycle(now=utc(2026, 3, 2, 8, 20)) == 0
    services.reply(ticket=ticket, body="On it", actor=agent, at=utc(2026, 3, 2, 8, 30))
    assert SlaBreach.objects.filter(ticket=ticket).count() == 1


def test_a_priority_change_re_bases_the_targets_from_the_opening(agent: object) -> None:
    # P3 Monday 2 March 10:00 CET (09:00 UTC): response 4 business hours -> 14:00 CET = 13:00 UTC.
    ticket = open_ticket("P3", utc(2026, 3, 2, 9, 0))
    assert ticket.response_due_at == utc(2026, 3, 2, 13, 0)
    # As P2 (1 h around the clock) -> 10:00 UTC, recorded on the timeline.
    ticket = services.change_priority(ticket=ticket, priority="P2", actor=agent, at=utc(2026, 3, 2, 9, 20))
    assert ticket.response_due_at == utc(2026, 3, 2, 10, 0)
    assert ticket.events.filter(kind="priority", message__contains="P3 → P2").exists()


def test_the_cycle_records_many_breaches_in_batches_each_notified_once(settings: object, monkeypatch: object) -> None:
    from support.models import MailKind, OutgoingEmail

    settings.SUPPORT_LEAD_EMAIL = "lead@example.com"  # type: ignore[attr-defined]
    monkeypatch.setattr(services, "SLA_BATCH", 2)  # type: ignore[attr-defined]
    tickets = [open_ticket("P1", utc(2026, 3, 2, 8, n)) for n in range(5)]  # response due 08:15 .. 08:19
    assert services.run_sla_cycle(now=utc(2026, 3, 2, 8, 18)) == 3  # due 08:15, 08:16, 08:17
    assert services.run_sla_cycle(now=utc(2026, 3, 2, 9, 0)) == 2  # the last two (resolution due 12:00+)
    assert services.run_sla_cycle(now=utc(2026, 3, 2, 9, 0)) == 0
    assert SlaBreach.objects.filter(clock="response").count() == 5
    notices = OutgoingEmail.objects.filter(kind=MailKind.BREACH, to="lead@example.com")
    assert sorted(notices.values_list("ticket_id", flat=True)) == sorted(t.pk for t in tickets)
    assert all(t.events.filter(kind="sla").count() == 1 for t in tickets)
