"""manage.py import_tickets: history with its instants, errors by line, all or nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from support import metrics
from support.models import OutgoingEmail, SlaBreach, Ticket, TicketStatus

pytestmark = pytest.mark.django_db

HEADER = "subject,requester_email,priority,opened_at,first_response_at,resolved_at,closed_at\n"


def test_a_csv_history_is_imported_with_its_clocks_and_breaches(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text(
        HEADER
        # P2 (1 h response, 24 h resolution, around the clock): answered after 30 min, resolved after 5 h.
        + "Login,a@x.test,P2,2026-03-02T09:00:00+00:00,2026-03-02T09:30:00+00:00,2026-03-02T14:00:00+00:00,\n"
        # P1 (15 min): answered after 20 min -> first-response breach; resolved after 3 h, closed.
        + "Down,b@x.test,P1,2026-03-03T10:00:00+00:00,2026-03-03T10:20:00+00:00,2026-03-03T13:00:00+00:00,"
        "2026-03-05T13:00:00+00:00\n"
    )
    call_command("import_tickets", str(path))
    login, down = Ticket.objects.order_by("opened_at")
    assert (login.status, down.status) == (TicketStatus.RESOLVED, TicketStatus.CLOSED)
    assert (login.response_breached, down.response_breached, down.resolution_breached) == (False, True, False)
    assert list(SlaBreach.objects.values_list("ticket__subject", "clock", "notified_to")) == [
        ("Down", "response", "(imported)")
    ]
    assert OutgoingEmail.objects.count() == 0
    # First-response attainment over the window: 1 of 2 met = 50 %.
    [value] = [
        v
        for v in metrics.compute_first_response_attainment(window="90d", now=datetime(2026, 3, 10, tzinfo=UTC))
        if v.scope == "global"
    ]
    assert (value.value, value.sample_size) == (50.0, 2)


def test_errors_name_the_line_and_field_and_nothing_is_imported(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text(
        HEADER + "Fine,a@x.test,P2,2026-03-02T09:00:00+00:00,,,\n" + "Bad,not-an-address,P9,2026-03-02T09:00:00,,,\n"
    )
    with pytest.raises(CommandError) as error:
        call_command("import_tickets", str(path))
    message = str(error.value)
    assert "line 3: requester_email:" in message and "line 3: priority:" in message and "line 3: opened_at:" in message
    assert Ticket.objects.count() == 0


def test_json_and_a_dry_run(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    path.write_text(
        json.dumps(
            [
                {
                    "subject": "A",
                    "requester_email": "a@x.test",
                    "priority": "P3",
                    "opened_at": "2026-03-02T09:00:00+01:00",
                }
            ]
        )
    )
    call_command("import_tickets", str(path), "--dry-run")
    assert Ticket.objects.count() == 0
    call_command("import_tickets", str(path))
    assert Ticket.objects.count() == 1
    path.write_text(
        json.dumps(
            [
                {
                    "subject": "A",
                    "requester_email": "a@x.test",
                    "priority": "P3",
                    "opened_at": "2026-03-02T09:00:00+01:00",
                    "closed_at": "2026-03-02T08:00:00+01:00",
                }
            ]
        )
    )
    with pytest.raises(CommandError, match="item 0: row: Value error, closed_at is before opened_at"):
        call_command("import_tickets", str(path))
