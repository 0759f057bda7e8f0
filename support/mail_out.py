"""Support e-mail out: rows of OutgoingEmail delivered through opsgov.outbox.

Every agent reply, acknowledgement, rating link and breach notice is an OutgoingEmail written in the
transaction of the change it reports, and sent by the task ``support.deliver_email`` once that commits
(the sweeper ``support.retry_emails`` takes what a broker outage left). Replies carry the ticket tag in
the subject ("[T-1042] ..."), a Message-ID opsgov generated (``<ticket-uuid.row-token@domain>``, stored
on the row and on the conversation entry so customer replies thread on it), and text and HTML parts.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone
from django.utils.html import escape, linebreaks

from opsgov.outbox import Outbox, OutboxPolicy

from .models import Contact, MailKind, OutgoingEmail, Ticket

logger = logging.getLogger(__name__)

EMAILS: Outbox[OutgoingEmail] = Outbox(OutgoingEmail, OutboxPolicy())
DELIVERY_TASK = "support.deliver_email"


def mail_domain() -> str:
    address = settings.SUPPORT_FROM_EMAIL.rsplit("<", 1)[-1].rstrip(">")
    return address.rsplit("@", 1)[-1] or "opsgov.invalid"


def new_message_id(ticket: Ticket | None = None) -> str:
    prefix = f"{ticket.uuid}." if ticket is not None else ""
    return f"<{prefix}{secrets.token_hex(8)}@{mail_domain()}>"


def email_row(
    *,
    kind: str,
    to: str,
    subject: str,
    text: str,
    html: str = "",
    ticket: Ticket | None = None,
    contact: Contact | None = None,
    in_reply_to: str = "",
    references: str = "",
    message_id: str = "",
    now: datetime | None = None,
) -> OutgoingEmail:
    """An unsaved e-mail row (the ticket tag in the subject, a new Message-ID); see queue_email."""
    now = now or timezone.now()
    if ticket is not None and ticket.tag not in subject:
        subject = f"{ticket.tag} {subject}"
    return OutgoingEmail(
        kind=kind,
        to=to,
        subject=subject[:400],
        text=text,
        html=html or linebreaks(escape(text)),
        ticket=ticket,
        contact=contact,
        in_reply_to=in_reply_to,
        references=references,
        message_id=message_id or new_message_id(ticket),
        next_attempt_at=EMAILS.first_attempt_at(now),
    )


def queue_email(**fields: Any) -> OutgoingEmail:
    """Write an e-mail to send (inside the caller's transaction) and enqueue its delivery on commit."""
    row = email_row(**fields)
    row.full_clean()
    row.save()
    EMAILS.enqueue_on_commit(DELIVERY_TASK, [row.pk])
    return row


def queue_emails(rows: list[OutgoingEmail]) -> list[OutgoingEmail]:
    """Write many e-mails at once (one INSERT) and enqueue their deliveries on commit."""
    stored = OutgoingEmail.objects.bulk_create(rows)
    EMAILS.enqueue_on_commit(DELIVERY_TASK, [row.pk for row in stored])
    return stored


def build(row: OutgoingEmail) -> EmailMultiAlternatives:
    headers = {"Message-ID": row.message_id, "Auto-Submitted": "auto-generated" if row.kind != MailKind.REPLY else "no"}
    if row.kind == MailKind.REPLY:
        headers.pop("Auto-Submitted")
    if row.in_reply_to:
        headers["In-Reply-To"] = row.in_reply_to
    if row.references:
        headers["References"] = row.references
    message = EmailMultiAlternatives(
        subject=row.subject,
        body=row.text,
        from_email=settings.SUPPORT_FROM_EMAIL,
        to=[row.to],
        headers=headers,
    )
    message.attach_alternative(row.html, "text/html")
    return message


def deliver(email_id: int, *, now: datetime | None = None) -> str:
    """Send one e-mail if it is due and not held by another sender; returns its status afterwards."""
    return EMAILS.send_email(email_id, build, now=now or timezone.now()) or "not claimed"


def retry_due(*, now: datetime | None = None) -> int:
    """Enqueue what is due (lost enqueues, retries); mark failed the lost last attempts."""
    now = now or timezone.now()
    EMAILS.fail_lost(now=now)
    due = list(EMAILS.due(now=now).values_list("pk", flat=True)[:500])
    return EMAILS.enqueue(DELIVERY_TASK, due)
