"""E-mail in over a real dovecot IMAP server and out through a real SMTP server (aiosmtpd), end to end."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from support import mail_in, mail_out, services
from support.models import (
    Attachment,
    Channel,
    Contact,
    InboundMessage,
    InboundOutcome,
    MailKind,
    MessageKind,
    OutgoingEmail,
    Ticket,
    TicketStatus,
)

from ..conftest import Sink
from .conftest import FIXTURES, Imap

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fetch(imap: Imap) -> str:
    out = StringIO()
    call_command("fetch_support_mail", url=imap.url, stdout=out, stderr=StringIO())
    return out.getvalue()


def send_all() -> None:
    for row in OutgoingEmail.objects.filter(status="pending"):
        assert mail_out.deliver(row.pk, now=row.next_attempt_at) == "sent"


def parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_a_request_becomes_a_ticket_a_reply_goes_out_and_the_customer_reply_threads(
    imap_server: Imap, smtp_server: Sink, agent: User, settings: object
) -> None:
    imap_server.deliver(fixture("new-request.eml"))
    assert "1 message(s) handled" in fetch(imap_server)

    ticket = Ticket.objects.get()
    assert ticket.channel == Channel.EMAIL and ticket.status == TicketStatus.NEW
    assert ticket.subject == "Invoices page shows an error since this morning"
    assert ticket.requester.email == "maria@customer.test" and ticket.requester.name == "Maria Lopez"
    assert "whole team" in ticket.description
    assert ticket.response_due_at is not None and ticket.resolution_due_at is not None  # the clock runs
    [attachment] = Attachment.objects.all()
    assert (attachment.filename, attachment.content_type, attachment.refused_reason) == ("error.png", "image/png", "")
    assert services.attachment_storage().exists(attachment.stored_name)
    assert imap_server.count("INBOX") == 0 and imap_server.count("Processed") == 1

    # The acknowledgement goes out with the tag, threads on the customer's message, text and HTML.
    send_all()
    [(_, rcpt, raw)] = smtp_server.messages
    ack = parsed(raw)
    assert rcpt == ["maria@customer.test"]
    assert ack["Subject"].startswith(f"[{ticket.public_id}] Re: Invoices page")
    assert ack["In-Reply-To"] == "<CAF3x9-new-0001@mail.customer.test>"
    assert ack["Auto-Submitted"] == "auto-generated"
    assert ack.get_body(preferencelist=("plain",)) is not None and ack.get_body(preferencelist=("html",)) is not None

    # An agent's reply: tag, an opsgov Message-ID, both parts; it stops the first-response clock.
    services.reply(ticket=ticket, body="We found the cause and deployed a fix. Can you try again?", actor=agent)
    services.set_status(ticket=ticket, status=TicketStatus.WAITING, actor=agent)
    send_all()
    reply = parsed(smtp_server.messages[-1][2])
    assert ticket.tag in reply["Subject"]
    assert re.fullmatch(rf"<{ticket.uuid}\.[0-9a-f]{{16}}@opsgov\.example>", reply["Message-ID"].strip())
    html = reply.get_body(preferencelist=("html",))
    assert html is not None and html.get_content().count("deployed a fix") == 1
    assert "Auto-Submitted" not in reply

    # The customer's reply (fixture) threads by References onto the ticket and resumes the clock.
    imap_server.deliver(fixture("customer-reply.eml"))
    fetch(imap_server)
    ticket.refresh_from_db()
    assert Ticket.objects.count() == 1
    assert ticket.status == TicketStatus.OPEN and ticket.resolution_due_at is not None
    assert ticket.messages.filter(kind=MessageKind.CUSTOMER, body__startswith="It works again").exists()

    # A reply that only answers opsgov's Message-ID (In-Reply-To) threads too.
    answer = (
        f"Message-ID: <answer-3@mail.customer.test>\r\nIn-Reply-To: {reply['Message-ID'].strip()}\r\n"
        "From: maria@customer.test\r\nTo: support@opsgov.example\r\nSubject: Re: your reply\r\n\r\nThanks\r\n"
    ).encode()
    imap_server.deliver(answer)
    fetch(imap_server)
    assert Ticket.objects.count() == 1
    assert InboundMessage.objects.get(message_id="<answer-3@mail.customer.test>").ticket == ticket


def test_auto_replies_and_bounces_never_open_tickets_nor_send_mail(imap_server: Imap) -> None:
    Contact.objects.create(email="nobody@customer.test")
    imap_server.deliver(fixture("auto-reply.eml"))
    imap_server.deliver(fixture("bounce.eml"))
    assert "2 message(s) handled" in fetch(imap_server)
    assert Ticket.objects.count() == 0
    assert OutgoingEmail.objects.count() == 0
    outcomes = dict(InboundMessage.objects.values_list("message_id", "outcome"))
    assert outcomes == {"<ooo-778@mail.customer.test>": "auto_reply", "<bounce-1@mx.opsgov.example>": "bounce"}
    bounced = Contact.objects.get(email="nobody@customer.test")
    assert bounced.bounced_at is not None and "5.1.1" in bounced.bounce_reason


def test_the_same_message_twice_changes_nothing(imap_server: Imap) -> None:
    imap_server.deliver(fixture("new-request.eml"))
    imap_server.deliver(fixture("new-request.eml"))
    output = fetch(imap_server)
    assert "1 message(s) handled, 1 already known" in output
    imap_server.deliver(fixture("new-request.eml"))
    fetch(imap_server)
    assert Ticket.objects.count() == 1
    assert OutgoingEmail.objects.filter(kind=MailKind.ACK).count() == 1
    assert InboundMessage.objects.count() == 1


def test_a_message_that_cannot_be_handled_goes_to_the_error_folder_and_the_loop_goes_on(imap_server: Imap) -> None:
    imap_server.deliver(b"Message-ID: <broken-1@x.test>\r\nSubject: no sender\r\n\r\nbody\r\n")
    imap_server.deliver(fixture("new-request.eml"))
    err = StringIO()
    out = StringIO()
    call_command("fetch_support_mail", url=imap_server.url, stdout=out, stderr=err)
    assert "1 message(s) handled, 0 already known, 1 moved to the error folder" in out.getvalue()
    assert "no sender address" in err.getvalue()
    assert imap_server.count("Errors") == 1 and imap_server.count("Processed") == 1
    error = InboundMessage.objects.get(message_id="<broken-1@x.test>")
    assert error.outcome == InboundOutcome.ERROR and "no sender address" in error.detail
    assert Ticket.objects.count() == 1


def test_broken_mime_unknown_charsets_and_huge_attachments_are_recorded(settings: object, tmp_path: object) -> None:
    from .conftest import use_policy

    use_policy(settings, tmp_path, "[support]\nmax_attachment_bytes = 100\n")  # type: ignore[arg-type]
    raw = (
        b"Message-ID: <odd-1@x.test>\r\nFrom: Ann <ann@x.test>\r\nSubject: odd [T-99999]\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="zz"\r\n\r\n'
        b'--zz\r\nContent-Type: text/plain; charset="x-unknown-charset"\r\n\r\nCaf\xe9 ferm\xe9\r\n'
        b'--zz\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="big.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b"QUFB" * 100 + b"\r\n--zz\r\n"  # no closing boundary
    )
    record = mail_in.ingest(raw)
    assert record is not None and record.outcome == InboundOutcome.TICKET  # T-99999 does not exist
    ticket = Ticket.objects.get()
    assert ticket.description.startswith("Caf")
    [attachment] = Attachment.objects.all()
    assert attachment.sha256 == "" and attachment.refused_reason == "larger than the limit of 100 bytes"
    assert "replacement characters" in record.detail


def test_the_subject_tag_threads_and_a_closed_ticket_gets_a_new_one(agent: User) -> None:
    ticket = services.create_ticket(subject="Export", description="x", requester_email="bo@x.test")
    raw = f"Message-ID: <t-1@x.test>\r\nFrom: bo@x.test\r\nSubject: Re: {ticket.tag} Export\r\n\r\nMore\r\n"
    assert mail_in.ingest(raw.encode()).outcome == InboundOutcome.REPLY  # type: ignore[union-attr]
    services.set_status(ticket=ticket, status=TicketStatus.CLOSED, actor=agent)
    raw2 = raw.replace("<t-1@", "<t-2@")
    record = mail_in.ingest(raw2.encode())
    assert record is not None and record.outcome == InboundOutcome.TICKET and record.ticket != ticket
    assert record.ticket is not None
    assert record.ticket.messages.filter(kind=MessageKind.NOTE, body__contains=ticket.public_id).exists()


def test_the_command_names_a_bad_mailbox_url() -> None:
    with pytest.raises(CommandError, match="must start with imap://"):
        call_command("fetch_support_mail", url="http://x")
