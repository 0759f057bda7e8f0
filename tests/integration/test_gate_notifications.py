"""A gate status change emailed through the real path: on-commit enqueue, a Celery worker, an SMTP server.

The incident management gate is evaluated here twice: no service (no
evidence), then a service without an escalation policy (fail). The change's
commit enqueues `deliver_gate_notifications`; a real worker on Redis sends the
emails to an aiosmtpd server on loopback. Publishing the same task again (a
redelivery) and the sweeper add no message: each address gets one email.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from django.contrib.auth.models import User

from opsgov.celery import app as celery_app
from opsgov.gates import services as gates_engine
from opsgov.gates import tasks as gate_tasks
from opsgov.models import GateNotification, GateNotificationStatus, GateStatus
from opsgov.registry import gates
from opsgov.roles import SRE_LEAD

from ..conftest import Sink, free_port
from ..factories import ServiceFactory, TeamFactory
from .conftest import TASK_TIMEOUT, CeleryProducer, Worker, purge_queue, unique_queue, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def smtp_sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sink]:
    """An SMTP server on loopback; the worker started after this fixture sends its mail there (EMAIL_URL)."""
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("EMAIL_URL", f"smtp://127.0.0.1:{controller.port}")
    monkeypatch.setenv("OPSGOV_BASE_URL", "https://ops.example.com")
    monkeypatch.setenv("DEFAULT_FROM_EMAIL", "opsgov <opsgov@example.com>")
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def worker(
    smtp_sink: Sink, redis_url: str, start_worker: Callable[..., Worker], celery_producer: CeleryProducer
) -> Iterator[Worker]:
    started = start_worker(broker_url=redis_url, queue=unique_queue())
    celery_producer.point(redis_url, queue=started.queue)
    # The gate engine's tasks go to this worker's queue only.
    celery_app.conf.update(task_routes={"opsgov.gate_tasks.*": {"queue": started.queue}})
    try:
        yield started
    finally:
        purge_queue(redis_url, started.queue)


def test_a_status_change_reaches_the_owners_by_smtp_once(
    worker: Worker, smtp_sink: Sink, make_user: Callable[..., User]
) -> None:
    owner = make_user("lead", SRE_LEAD, first_name="Lee", last_name="Dunn")
    gate = gates.get("incident_management")
    first = gates_engine.evaluate_gate(gate=gate)
    assert first.status == GateStatus.NO_EVIDENCE  # no service yet: nothing to notify (not a change)

    team = TeamFactory.create(slug="payments", name="Payments", email="payments@example.com")
    ServiceFactory.create(slug="ledger", name="Ledger", owner_team=team)
    changed = gates_engine.evaluate_gate(gate=gate)  # commits, and enqueues the delivery on commit
    assert changed.status == GateStatus.FAIL

    def all_sent() -> bool:
        rows = GateNotification.objects.filter(evaluation=changed)
        return rows.count() == 2 and not rows.exclude(status=GateNotificationStatus.SENT).exists()

    assert wait_until(all_sent, TASK_TIMEOUT), f"Not sent in {TASK_TIMEOUT:g} s:\n{worker.log_tail()}"
    assert wait_until(lambda: len(smtp_sink.messages) >= 2, 10)

    # A redelivered task and the sweeper find nothing left to send.
    gates_engine.enqueue_deliveries([changed.pk, changed.pk])
    assert gate_tasks.retry_gate_notifications() == 0
    assert wait_until(lambda: "deliver_gate_notifications" in worker.log() and worker.log().count("succeeded") >= 3, 30)
    assert len(smtp_sink.messages) == 2

    recipients = sorted(rcpt for _, rcpts, _ in smtp_sink.messages for rcpt in rcpts)
    assert recipients == [owner.email, "payments@example.com"]
    [raw] = [raw for _, rcpts, raw in smtp_sink.messages if rcpts == [owner.email]]
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "[opsgov] Incident management process active: Fail (was No evidence)"
    assert message["From"] == "opsgov <opsgov@example.com>"
    assert message.get_content_type() == "multipart/alternative"
    text_part, html_part = message.get_body(("plain",)), message.get_body(("html",))
    assert text_part is not None and html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    assert "Hello Lee Dunn," in text
    assert "[Fail] Ledger: no escalation policy (ledger)" in text
    assert "https://ops.example.com/gates/incident_management/" in text
    assert 'href="https://ops.example.com/services/ledger/"' in html
    assert 'href="https://ops.example.com/gates/incident_management/"' in html
