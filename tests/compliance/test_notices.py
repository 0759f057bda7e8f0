"""Compliance e-mails through the outbox: overdue findings and regulatory task reminders, over real SMTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from typing import Any

import pytest
from django.contrib.auth.models import User

from compliance import notices, regulatory, services
from compliance.models import ComplianceNotice, Finding, NoticeKind, RegulatoryTask
from compliance.tasks import escalate_overdue_findings
from opsgov.models import OutboxStatus
from tests.conftest import Sink, free_port

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def owner(make_user: Callable[..., User]) -> User:
    return make_user("owner")


def test_an_overdue_finding_is_escalated_once_and_its_notice_delivered_over_smtp(
    officer: User, owner: User, smtp_server: Sink
) -> None:
    late = services.finding_record(title="Late", severity="high", owner=owner, now=NOW - timedelta(days=40))
    services.finding_record(title="Not yet", severity="low", owner=owner, now=NOW - timedelta(days=1))
    assert notices.escalate_overdue(now=NOW) == 1
    assert notices.escalate_overdue(now=NOW) == 0  # claimed once
    late.refresh_from_db()
    assert late.escalated_at == NOW
    [notice] = ComplianceNotice.objects.all()
    # Written with the claim, waiting for its on-commit delivery (the sweeper takes it after the grace).
    assert (notice.kind, notice.finding_id, notice.status) == (NoticeKind.FINDING_OVERDUE, late.pk, "pending")
    assert notice.recipients == sorted([officer.email, owner.email])
    assert notices.send_due(now=NOW) == 0  # within the publish grace: the on-commit enqueue's turn
    assert notices.deliver(notice.pk) == 1
    assert notices.deliver(notice.pk) == 0  # sent: never twice
    [(_, rcpt_tos, raw)] = smtp_server.messages
    assert sorted(rcpt_tos) == sorted([officer.email, owner.email])
    message = message_from_bytes(raw)
    assert message["Subject"] == "[opsgov] Overdue high finding: Late"
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode()
    assert "Late" in body and f"https://ops.example.com/admin/compliance/finding/{late.pk}/change/" in body
    notice.refresh_from_db()
    assert notice.status == OutboxStatus.SENT and notice.sent_at is not None


def test_the_escalation_task_runs_the_same_claim(officer: User, owner: User) -> None:
    services.finding_record(title="Late", severity="high", owner=owner, now=datetime.now(UTC) - timedelta(days=40))
    assert escalate_overdue_findings() == 1
    assert escalate_overdue_findings() == 0
    assert ComplianceNotice.objects.count() == 1
    assert Finding.objects.get().escalated_at is not None


def test_a_failed_send_is_retried_by_the_sweeper_then_sent(officer: User, settings: Any, smtp_server: Sink) -> None:
    services.finding_record(title="Late", severity="critical", now=NOW - timedelta(days=40))
    notices.escalate_overdue(now=NOW)
    notice = ComplianceNotice.objects.get()
    good_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nobody listens: connection refused
    assert notices.deliver(notice.pk, now=NOW) == 0
    notice.refresh_from_db()
    assert (notice.status, notice.attempts) == (OutboxStatus.RETRYING, 1)
    assert "ConnectionRefusedError" in notice.last_error
    settings.EMAIL_PORT = good_port
    assert notices.send_due(now=datetime.now(UTC) + timedelta(seconds=30)) == 0  # backoff: a minute after the failure
    assert notices.send_due(now=datetime.now(UTC) + timedelta(minutes=2)) == 1
    notice.refresh_from_db()
    assert (notice.status, notice.attempts) == (OutboxStatus.SENT, 2)
    assert len(smtp_server.messages) == 1 and smtp_server.messages[0][1] == [officer.email]


def test_regulatory_tasks_due_soon_remind_their_owner_once(officer: User, owner: User, smtp_server: Sink) -> None:
    change = regulatory.change_create(
        title="Resilience act",
        source="EU Official Journal",
        summary="Incident reporting within 24 h.",
        effective_date=date(2026, 9, 1),
        actor=officer,
    )
    soon = regulatory.task_add(
        change=change, description="Update the incident runbook", owner=owner, due_on=date(2026, 6, 5), actor=officer
    )
    regulatory.task_add(
        change=change, description="Train the on-call", owner=owner, due_on=date(2026, 7, 30), actor=officer
    )
    assert notices.remind_regulatory_tasks(now=NOW) == 1  # 4 days ahead, within the 7-day default
    assert notices.remind_regulatory_tasks(now=NOW) == 0
    assert RegulatoryTask.objects.get(pk=soon.pk).reminded_at == NOW
    notice = ComplianceNotice.objects.get()
    assert (notice.kind, notice.regulatory_task_id) == (NoticeKind.REGULATORY_TASK_DUE, soon.pk)
    assert notice.subject == "[opsgov] Regulatory task due in 4 day(s): Update the incident runbook"
    assert notices.send_due(now=NOW + timedelta(minutes=1)) == 1  # the sweeper, after the grace
    [(_, rcpt_tos, _raw)] = smtp_server.messages
    assert sorted(rcpt_tos) == sorted([officer.email, owner.email])
