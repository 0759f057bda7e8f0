"""`manage.py send_report weekly|monthly [--dry-run] [--period YYYY-MM-DD]`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from io import StringIO

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core import mail
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings

from opsgov.models import DeliveryStatus, GateEvaluation, GateStatus, ReportDelivery
from opsgov.roles import COMPLIANCE_OFFICER, SRE_LEAD

from ..factories import ServiceFactory

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(MONDAY, tick=False):
        yield


@pytest.fixture
def readers(make_user: Callable[..., User]) -> None:
    make_user("lead", SRE_LEAD)
    make_user("officer", COMPLIANCE_OFFICER)


def run(*args: str) -> str:
    out = StringIO()
    call_command("send_report", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_dry_run_prints_the_text_part_and_sends_nothing(readers: None) -> None:
    GateEvaluation.objects.create(
        gate="monitoring", status=GateStatus.FAIL, reason="x", evaluated_at=datetime(2026, 11, 25, tzinfo=UTC)
    )
    output = run("weekly", "--dry-run")
    assert output.startswith(
        "Subject: [opsgov] Weekly operations report: week 48 of 2026, Mon 23 Nov to Sun 29 Nov 2026\n"
        "To: lead@example.com\n"
    )
    assert "Quality gates: changes since last week" in output
    assert "1 gate of 8 changed status over the week" in output
    assert "Incidents of the week" in output
    assert mail.outbox == []
    assert not ReportDelivery.objects.exists()


def test_a_dry_run_on_a_fresh_install_evaluates_the_gates_and_says_when(readers: None) -> None:
    ServiceFactory.create(slug="checkout", name="Checkout")  # no SLO, no escalation path: failing gates
    output = run("weekly", "--dry-run")
    assert "at its end: 8 no evidence" not in output
    assert (
        "No gate had an evaluation by the end of the week; shown instead: each gate's first evaluation after\n"
        "it (Mon 30 Nov 07:00): " in output
    )
    assert "Fail (Mon 30 Nov 07:00)" in output
    assert GateEvaluation.objects.count() == 8
    assert all(len(line) <= 100 for line in output.splitlines())
    assert mail.outbox == []


def test_the_period_option_picks_the_month_containing_the_day(readers: None) -> None:
    output = run("monthly", "--dry-run", "--period", "2026-10-17")
    assert "Subject: [opsgov] Monthly governance report: October 2026" in output
    assert "To: officer@example.com" in output
    assert "Waivers\n=======\nNo check was waived this month." in output


def test_without_dry_run_it_sends_once_and_says_so(readers: None) -> None:
    assert run("weekly") == (
        "Weekly operations report for week 48 of 2026, Mon 23 Nov to Sun 29 Nov 2026: sent 1, already sent 0, "
        "being sent elsewhere 0, failed 0, given up 0.\n"
    )
    assert "sent 0, already sent 1" in run("weekly")
    assert [message.to for message in mail.outbox] == [["lead@example.com"]]
    delivery = ReportDelivery.objects.get()
    assert (delivery.status, delivery.period_start) == (DeliveryStatus.SENT, date(2026, 11, 23))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["weekly", "--period", "30.11.2026"], "--period: '30.11.2026' is not a date (YYYY-MM-DD)"),
        (["monthly", "--period", "2027-01-05"], "--period: January 2027 has not started yet."),
    ],
)
def test_a_bad_period_is_refused_naming_the_option(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        run(*args)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(CommandError, match="invalid choice: 'daily'"):
        run("daily")


def test_a_failing_mail_server_fails_the_command_and_records_the_error(readers: None, settings: Settings) -> None:
    # A real SMTP connection to a port nobody listens on (connection refused).
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1
    settings.EMAIL_TIMEOUT = 2
    with pytest.raises(CommandError, match="1 delivery"):
        run("weekly")
    delivery = ReportDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert "ConnectionRefusedError" in delivery.last_error
