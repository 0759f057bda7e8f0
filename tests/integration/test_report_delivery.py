"""Scheduled reports through a real SMTP server on loopback (aiosmtpd), once per period and recipient.

In this process first (Django's SMTP backend against aiosmtpd), then as beat runs
it in production: the beat task published twice (a doubled beat) to two real
Celery workers on Redis, each sending through the same SMTP server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.contrib.auth.models import User
from django.utils import timezone
from kombu import Connection

from opsgov.models import DeliveryStatus, GateEvaluation, GateStatus, ReportDelivery
from opsgov.reports import services as reports
from opsgov.reports.tasks import send_scheduled_report
from opsgov.roles import COMPLIANCE_OFFICER, SRE_LEAD

from ..conftest import Sink, free_port
from .conftest import TASK_TIMEOUT, purge_queue, unique_queue, wait_until

pytestmark = [pytest.mark.integration]


@pytest.fixture
def smtp_sink() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield sink, controller.port
    finally:
        controller.stop()


@pytest.fixture
def smtp_settings(settings: Any, smtp_sink: tuple[Sink, int]) -> Sink:
    sink, port = smtp_sink
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 10
    settings.OPSGOV_BASE_URL = "https://ops.example.com"
    settings.DEFAULT_FROM_EMAIL = "opsgov <opsgov@example.com>"
    return sink


def parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.mark.django_db
def test_the_weekly_report_reaches_each_recipient_once_with_text_and_html_parts(
    smtp_settings: Sink, make_user: Callable[..., User]
) -> None:
    make_user("lead", SRE_LEAD)
    make_user("officer", COMPLIANCE_OFFICER)
    GateEvaluation.objects.create(
        gate="monitoring", status=GateStatus.FAIL, reason="No SLO", evaluated_at=timezone.now()
    )
    period = reports.ReportPeriod.containing("weekly", timezone.now().date())
    period = period.previous()

    first = reports.send_report(kind="weekly", period=period)
    again = reports.send_report(kind="weekly", period=period)

    assert (first.sent, again.sent, again.already_sent) == (["lead@example.com"], [], ["lead@example.com"])
    [(mail_from, rcpt_tos, raw)] = smtp_settings.messages
    assert (mail_from, rcpt_tos) == ("opsgov@example.com", ["lead@example.com"])
    message = parse(raw)
    assert message["Subject"] == f"[opsgov] Weekly operations report: {period.label}"
    assert message["X-Opsgov-Report"] == f"weekly/{period.first_day.isoformat()}"
    assert message.get_content_type() == "multipart/alternative"
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    assert text_part is not None and html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    for heading in ("Quality gates: changes since last week", "Operational metrics against targets", "SLOs at risk"):
        assert heading in text and heading in html
    assert "<https://ops.example.com/gates/monitoring/>" in text
    assert 'href="https://ops.example.com/gates/monitoring/"' in html
    assert ReportDelivery.objects.get().status == DeliveryStatus.SENT


@pytest.mark.django_db
def test_a_refused_delivery_is_recorded_and_sent_by_the_next_run(
    settings: Any, smtp_sink: tuple[Sink, int], make_user: Callable[..., User]
) -> None:
    sink, port = smtp_sink
    make_user("officer", COMPLIANCE_OFFICER)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 5  # nobody there
    period = reports.ReportPeriod.last_complete("monthly", timezone.now())
    failed = reports.send_report(kind="monthly", period=period)
    assert [address for address, _ in failed.failed] == ["officer@example.com"]
    assert ReportDelivery.objects.get().status == DeliveryStatus.FAILED

    settings.EMAIL_PORT = port  # the mail server is back
    retried = reports.send_report(kind="monthly", period=period)
    assert retried.sent == ["officer@example.com"]
    assert len(sink.messages) == 1
    delivery = ReportDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.SENT, 2, "")


@pytest.mark.django_db(transaction=True)
def test_a_doubled_beat_on_two_workers_sends_the_report_once_per_recipient(
    redis_url: str,
    start_worker: Callable[..., Any],
    smtp_sink: tuple[Sink, int],
    make_user: Callable[..., User],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink, port = smtp_sink
    for index in range(6):
        make_user(f"lead{index}", SRE_LEAD)
    make_user("officer", COMPLIANCE_OFFICER)
    monkeypatch.setenv("EMAIL_URL", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("DEFAULT_FROM_EMAIL", "opsgov <opsgov@example.com>")
    queue = unique_queue()
    workers = [start_worker(broker_url=redis_url, queue=queue) for _ in range(2)]
    try:
        with Connection(redis_url) as connection:
            producer = connection.Producer()
            # Beat fired twice (two beat processes, or one restarted at the wrong moment).
            sent = [
                send_scheduled_report.apply_async(args=("weekly",), queue=queue, producer=producer) for _ in range(2)
            ]

        def finished() -> bool:
            logs = "".join(worker.log() for worker in workers)
            return all(f"[{task.id}] succeeded" in logs or f"[{task.id}] retry" in logs for task in sent)

        assert wait_until(finished, TASK_TIMEOUT), "\n".join(worker.log_tail() for worker in workers)
    finally:
        purge_queue(redis_url, queue)

    assert sorted(rcpt for _, (rcpt,), _ in sink.messages) == [f"lead{index}@example.com" for index in range(6)]
    deliveries = ReportDelivery.objects.all()
    assert deliveries.count() == 6
    assert {delivery.status for delivery in deliveries} == {DeliveryStatus.SENT}
    assert {delivery.attempts for delivery in deliveries} == {1}
    period = reports.ReportPeriod.last_complete("weekly", timezone.now())
    assert {delivery.period_start for delivery in deliveries} == {period.first_day}
