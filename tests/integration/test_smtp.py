"""An escalation email through a real SMTP server on loopback (aiosmtpd), with Django's SMTP backend."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from django.utils import timezone

from incidents.models import Notification, NotificationStatus
from incidents.oncall import tasks as oncall_tasks

from ..conftest import Sink
from ..incidents.test_escalation_support import make_world

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_an_escalation_email_goes_through_smtp_with_text_and_html_parts(smtp_server: Sink) -> None:
    world = make_world()
    incident = world.incident(at=timezone.now())
    oncall_tasks.escalate_due_incidents()
    notification = Notification.objects.get(incident=incident)

    assert oncall_tasks.deliver_notification(notification.pk) == NotificationStatus.SENT

    [(mail_from, rcpt_tos, raw)] = smtp_server.messages
    assert (mail_from, rcpt_tos) == ("opsgov@example.com", [world.alice.email])
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == f"[SEV-2] INC-{incident.pk} Checkout errors — triggered"
    assert message.get_content_type() == "multipart/alternative"
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    assert text_part is not None and html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    page = f"https://ops.example.com/incidents/{incident.pk}/"
    for link in (f"{page}?action=acknowledge#actions-heading", f"{page}?action=resolve#actions-heading"):
        assert link in text
        assert f'href="{link}"' in html
    assert "Checkout errors" in text and "Checkout errors" in html
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT
    assert notification.last_error == ""
