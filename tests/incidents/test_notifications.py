"""Delivering notifications: email content (locmem backend), webhooks to a live local receiver, retries.

Webhooks go to a real ThreadingHTTPServer on 127.0.0.1 started by the test;
the signature is verified here the way a receiver would. Retries are driven
by moving the frozen clock and calling the tasks as functions.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.core.mail import EmailMessage, EmailMultiAlternatives

from incidents.models import Incident, Notification, NotificationStatus, TimelineKind
from incidents.oncall import notifications
from incidents.oncall import tasks as oncall_tasks

from .test_escalation_support import T0, WEBHOOK_SECRET, World, make_world, webhook_channel, webhook_receiver
from .test_ingest_support import Broker, celery_broker

pytestmark = pytest.mark.django_db

BASE_URL = "https://ops.example.com"


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _mail(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.OPSGOV_BASE_URL = BASE_URL + "/"
    settings.DEFAULT_FROM_EMAIL = "opsgov <opsgov@example.com>"


@pytest.fixture
def world(clock: time_machine.Traveller) -> World:
    return make_world()


def escalate(world: World, **incident: Any) -> tuple[Incident, list[Notification]]:
    created = world.incident(**incident)
    oncall_tasks.escalate_due_incidents()
    created.refresh_from_db()
    return created, list(Notification.objects.filter(incident=created).order_by("pk"))


def delivery_entries(incident: Incident) -> list[dict[str, Any]]:
    return [
        {"message": e.message, **e.data}
        for e in incident.timeline.filter(kind=TimelineKind.NOTIFICATION, data__has_key="notification")
    ]


def html_part(message: EmailMessage) -> str:
    """The HTML alternative of a sent message (there must be exactly one)."""
    assert isinstance(message, EmailMultiAlternatives)
    [(content, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return str(content)


# --- Email ------------------------------------------------------------------------------------


def test_an_email_has_a_text_and_an_html_part_with_absolute_links(world: World) -> None:
    incident, [notification] = escalate(world)
    assert oncall_tasks.deliver_notification(notification.pk) == NotificationStatus.SENT

    [message] = mail.outbox
    assert message.subject == f"[SEV-2] INC-{incident.pk} Checkout errors — triggered"
    assert message.to == [world.alice.email]
    assert message.from_email == "opsgov <opsgov@example.com>"
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"
    page = f"{BASE_URL}/incidents/{incident.pk}/"
    for link in (page, f"{page}?action=acknowledge#actions-heading", f"{page}?action=resolve#actions-heading"):
        assert link in message.body
    assert "Hello Alice Adams" in message.body
    assert "Respond by:  2026-11-18 11:00 UTC (response target 1 hour)" in message.body
    html = html_part(message)
    assert f'href="{page}?action=acknowledge#actions-heading"' in html
    assert f'href="{page}?action=resolve#actions-heading"' in html
    assert "High (major feature broken)" in html


def test_the_html_part_escapes_what_people_typed(world: World) -> None:
    _, [notification] = escalate(world, title='<img src=x onerror="alert(1)"> down')
    notifications.deliver(notification_id=notification.pk)
    [message] = mail.outbox
    html = html_part(message)
    assert "<img src=x" not in html
    assert "&lt;img src=x" in html
    assert '<img src=x onerror="alert(1)"> down' in message.body  # the text part is plain text


def test_a_later_level_says_so_in_the_subject(world: World, clock: time_machine.Traveller) -> None:
    incident, _ = escalate(world, severity="SEV-1", title="Payments\ndown")
    clock.move_to(T0 + timedelta(minutes=15))
    oncall_tasks.escalate_due_incidents()
    level2 = Notification.objects.get(incident=incident, level=2)
    oncall_tasks.deliver_notification(level2.pk)
    assert [m.subject for m in mail.outbox] == [
        f"[SEV-1] INC-{incident.pk} Payments down — triggered (escalation level 2)"
    ]
    assert mail.outbox[0].to == [world.bob.email]


def test_a_sent_email_is_recorded_and_in_the_timeline(world: World) -> None:
    incident, [notification] = escalate(world)
    oncall_tasks.deliver_notification(notification.pk)
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.sent_at) == (NotificationStatus.SENT, 1, T0)
    [entry] = delivery_entries(incident)
    assert entry["message"] == f"Email to {world.alice.email} delivered"
    assert (entry["status"], entry["attempt"], entry["response_status"]) == ("sent", 1, None)
    # Delivered once: a redelivered task finds nothing to do.
    assert oncall_tasks.deliver_notification(notification.pk) is None
    assert len(mail.outbox) == 1


def test_an_email_the_server_refuses_is_retried_not_raised(world: World, settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2  # nobody listens
    _, [notification] = escalate(world)
    assert oncall_tasks.deliver_notification(notification.pk) == NotificationStatus.RETRYING
    notification.refresh_from_db()
    assert notification.last_error.startswith("ConnectionRefusedError")
    assert notification.next_attempt_at == T0 + timedelta(minutes=1)


# --- Webhooks ---------------------------------------------------------------------------------


def test_a_webhook_is_posted_signed_to_a_live_receiver(world: World) -> None:
    with webhook_receiver() as receiver:
        webhook_channel(url=receiver.url, team=world.service.owner_team)
        incident, notifications_ = escalate(world)
        [hook] = [n for n in notifications_ if n.kind == "webhook"]
        assert hook.recipient is None and hook.destination == receiver.url
        assert oncall_tasks.deliver_notification(hook.pk) == NotificationStatus.SENT

    [request] = receiver.requests
    assert request.path == "/hooks/opsgov"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Opsgov-Timestamp"] == str(int(T0.timestamp()))
    expected = hmac.new(WEBHOOK_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Opsgov-Signature"], f"sha256={expected}")
    assert json.loads(request.body) == {
        "event": "incident.triggered",
        "incident": {
            "id": str(incident.uuid),
            "number": incident.pk,
            "title": "Checkout errors",
            "severity": "SEV-2",
            "status": "triggered",
            "service": "checkout",
            "url": f"{BASE_URL}/incidents/{incident.pk}/",
            "triggered_at": T0.isoformat(),
            # Declared by hand: no signals, so no context (tests/incidents/test_responder_context.py has some).
            "context": {
                "runbooks": [],
                "descriptions": [],
                "links": [],
                "images": [],
                "custom_details": [],
                "alerts": [],
                "omitted": 0,
            },
        },
        "level": 1,
        "sent_at": T0.isoformat(),
    }
    hook.refresh_from_db()
    assert (hook.status, hook.response_status, hook.attempts) == (NotificationStatus.SENT, 200, 1)
    assert [e["message"] for e in delivery_entries(incident)] == [f"Webhook to {receiver.url} delivered (HTTP 200)"]


def test_a_tampered_body_does_not_match_the_signature(world: World) -> None:
    with webhook_receiver() as receiver:
        webhook_channel(url=receiver.url, user=world.alice)
        _, notifications_ = escalate(world)
        [hook] = [n for n in notifications_ if n.kind == "webhook"]
        assert hook.recipient == world.alice
        notifications.deliver(notification_id=hook.pk)
    [request] = receiver.requests
    forged = request.body.replace(b'"SEV-2"', b'"SEV-4"')
    digest = hmac.new(WEBHOOK_SECRET.encode(), forged, hashlib.sha256).hexdigest()
    assert not hmac.compare_digest(request.headers["X-Opsgov-Signature"], f"sha256={digest}")


def test_a_failing_receiver_is_retried_with_backoff_then_given_up(world: World, clock: time_machine.Traveller) -> None:
    with webhook_receiver(status=500) as receiver:
        webhook_channel(url=receiver.url, team=world.service.owner_team)
        incident, notifications_ = escalate(world)
        [hook] = [n for n in notifications_ if n.kind == "webhook"]

        now = T0
        for attempt, wait in enumerate([1, 2, 4, 8], start=1):
            assert oncall_tasks.deliver_notification(hook.pk) == NotificationStatus.RETRYING
            hook.refresh_from_db()
            assert (hook.attempts, hook.response_status, hook.last_error) == (attempt, 500, "HTTP 500")
            assert hook.next_attempt_at == now + timedelta(minutes=wait)
            # Not before its time: neither a stray task nor the sweeper tries it early.
            assert oncall_tasks.deliver_notification(hook.pk) is None
            clock.move_to(hook.next_attempt_at - timedelta(seconds=1))
            assert hook.pk not in notifications.due_notification_ids()
            now = hook.next_attempt_at
            clock.move_to(now)
            assert hook.pk in notifications.due_notification_ids()

        assert oncall_tasks.deliver_notification(hook.pk) == NotificationStatus.FAILED
        clock.move_to(now + timedelta(hours=1))
        assert hook.pk not in notifications.due_notification_ids()
        assert oncall_tasks.deliver_notification(hook.pk) is None

    assert len(receiver.requests) == notifications.POLICY.max_attempts == 5
    hook.refresh_from_db()
    assert (hook.status, hook.attempts, hook.sent_at) == (NotificationStatus.FAILED, 5, None)
    entries = delivery_entries(incident)
    assert [(e["status"], e["attempt"], e["response_status"]) for e in entries] == [
        ("retrying", 1, 500),
        ("retrying", 2, 500),
        ("retrying", 3, 500),
        ("retrying", 4, 500),
        ("failed", 5, 500),
    ]
    assert entries[0]["message"] == (
        f"Webhook to {receiver.url} not delivered (attempt 1 of 5: HTTP 500); retrying at 10:01:00"
    )
    assert entries[-1]["message"] == f"Webhook to {receiver.url} failed after 5 attempts: HTTP 500"


def test_a_receiver_that_recovers_gets_the_notification_on_a_retry(world: World, clock: time_machine.Traveller) -> None:
    with webhook_receiver(status=503) as receiver:
        webhook_channel(url=receiver.url, team=world.service.owner_team)
        _, notifications_ = escalate(world)
        [hook] = [n for n in notifications_ if n.kind == "webhook"]
        notifications.deliver(notification_id=hook.pk)
        receiver.status = 204
        clock.move_to(T0 + timedelta(minutes=1))
        result = notifications.deliver(notification_id=hook.pk)
    assert result is not None and (result.status, result.attempt, result.response_status) == ("sent", 2, 204)
    hook.refresh_from_db()
    assert (hook.last_error, hook.sent_at) == ("", T0 + timedelta(minutes=1))


def test_an_unreachable_receiver_is_recorded_as_a_failed_attempt(world: World) -> None:
    webhook_channel(url="http://127.0.0.1:1/hook", team=world.service.owner_team)
    _, notifications_ = escalate(world)
    [hook] = [n for n in notifications_ if n.kind == "webhook"]
    result = notifications.deliver(notification_id=hook.pk)
    assert result is not None and result.status == NotificationStatus.RETRYING
    assert result.response_status is None
    assert "ConnectionRefusedError" in result.error


# --- Claims and the sweeper -------------------------------------------------------------------


def test_a_notification_is_claimed_by_one_worker_at_a_time(world: World, clock: time_machine.Traveller) -> None:
    _, [notification] = escalate(world)
    assert notifications.claim(notification.pk) is True
    assert notifications.claim(notification.pk) is False  # "sending": someone else has it
    assert oncall_tasks.deliver_notification(notification.pk) is None
    assert mail.outbox == []
    # The worker died mid-send: after the lease the sweeper hands it out again.
    assert notification.pk not in notifications.due_notification_ids()
    clock.move_to(T0 + notifications.POLICY.lease)
    assert notifications.due_notification_ids() == [notification.pk]
    assert oncall_tasks.deliver_notification(notification.pk) == NotificationStatus.SENT
    notification.refresh_from_db()
    assert notification.attempts == 2


def test_a_lost_last_attempt_is_marked_failed_by_the_sweeper(world: World, clock: time_machine.Traveller) -> None:
    incident, [notification] = escalate(world)
    Notification.objects.filter(pk=notification.pk).update(
        status=NotificationStatus.SENDING, attempts=notifications.POLICY.max_attempts, next_attempt_at=T0
    )
    assert notifications.due_notification_ids() == []
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.FAILED
    assert [e["status"] for e in delivery_entries(incident)] == ["failed"]


def test_the_sweeper_enqueues_what_is_due_only(world: World, clock: time_machine.Traveller, tmp_path: Path) -> None:
    _, [notification] = escalate(world)
    broker = Broker(tmp_path)
    with celery_broker("filesystem://", broker.transport_options):
        assert oncall_tasks.retry_due_notifications() == 0  # its on-commit enqueue is still within the grace
        clock.move_to(T0 + notifications.POLICY.publish_grace)
        assert oncall_tasks.retry_due_notifications() == 1
    assert [(t.name, t.args) for t in broker.published()] == [
        ("incidents.notify_tasks.deliver_notification", [notification.pk])
    ]
