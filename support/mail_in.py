"""Support e-mail in: each message of the support mailbox becomes a ticket, a reply, or a record.

``ingest(raw)`` decides what one message is, in this order:

1. **Duplicate**: a Message-ID already stored (InboundMessage) changes nothing. A message without one
   is identified by the SHA-256 of its bytes.
2. **Bounce**: a delivery report (``multipart/report; report-type=delivery-status``, or a message from
   MAILER-DAEMON/postmaster) is recorded against each failed recipient (Contact.bounced_at); it never
   opens a ticket nor triggers a reply.
3. **Automatic reply**: ``Auto-Submitted`` other than "no", ``Precedence: auto_reply/bulk/junk``,
   ``X-Autoreply``/``X-Autorespond``: recorded, nothing else (no ticket, no acknowledgement: no mail loop).
4. **Reply**: ``In-Reply-To``/``References`` naming a message of a ticket's conversation or an e-mail
   opsgov sent, else a ``[T-1042]`` tag in the subject: the text is added to that ticket (a resolved
   ticket within the auto-close period reopens; a closed one, or one past the period, gets a new ticket).
5. Otherwise a **new ticket** (channel e-mail, priority P3 unless the policy lacks it), acknowledged.

Broken MIME and unknown charsets are decoded as far as possible (undecodable bytes replaced) with the
problem noted; attachments over the size limit or of refused types are recorded with the reason, not
stored. A message that cannot be handled at all raises :class:`UnparseableMessage`; the fetch loop
(``fetch_mailbox``) moves it to the error folder and records it, so nothing is lost.

Mailbox: ``SUPPORT_IMAP_URL`` = ``imap://user:password@host:143/INBOX?error_folder=Errors&done_folder=Processed``
(``imaps://`` for TLS on connect; ``starttls=true`` to upgrade). Handled messages move to the done folder.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import hashlib
import imaplib
import logging
import re
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.html import strip_tags

from opsgov.policy import get_policy

from . import services
from .models import (
    Channel,
    Contact,
    InboundMessage,
    InboundOutcome,
    MailboxState,
    OutgoingEmail,
    Ticket,
    TicketMessage,
    TicketStatus,
)

logger = logging.getLogger(__name__)

_TAG = re.compile(r"\[T-(\d+)\]")
_MSGID = re.compile(r"<[^<>\s]+>")


class UnparseableMessage(Exception):
    """A message that cannot become anything: moved to the error folder with this reason."""


@dataclass
class Parsed:
    message_id: str
    sender: str
    sender_name: str
    subject: str
    date: str
    body: str
    references: list[str]
    attachments: list[services.IncomingFile] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except Exception as exc:  # a header the parser could not make sense of
        return f"(unreadable: {type(exc).__name__})"
    return str(value).strip() if value is not None else ""


def _text_of(part: Message, problems: list[str]) -> str:
    try:
        if isinstance(part, EmailMessage):
            content = part.get_content()
            if isinstance(content, str):
                return content
    except (LookupError, UnicodeError, KeyError, AssertionError) as exc:
        problems.append(f"body decoded with replacement characters ({type(exc).__name__}: {exc})")
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode("utf-8", errors="replace")
    return str(part.get_payload())


def parse(raw: bytes) -> tuple[Message, Parsed]:
    """Read one message; raises UnparseableMessage when not even the headers can be read."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as exc:
        raise UnparseableMessage(f"not a readable message: {type(exc).__name__}: {exc}") from exc
    problems = [f"{type(defect).__name__}" for defect in getattr(message, "defects", [])]
    message_id = _header(message, "Message-ID")
    match = _MSGID.search(message_id)
    message_id = match.group(0) if match else f"<sha256-{hashlib.sha256(raw).hexdigest()}@opsgov.missing>"
    name, sender = parseaddr(_header(message, "From"))
    if "@" not in sender:
        raise UnparseableMessage(f"no sender address in From: {_header(message, 'From')!r}")
    references = _MSGID.findall(_header(message, "In-Reply-To")) + _MSGID.findall(_header(message, "References"))
    body = ""
    attachments: list[services.IncomingFile] = []
    html = ""
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        content_type = part.get_content_type()
        if disposition == "attachment" or (disposition == "inline" and part.get_filename()):
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            attachments.append(services.IncomingFile(part.get_filename() or "attachment", content_type, data))
        elif content_type == "text/plain" and not body:
            body = _text_of(part, problems)
        elif content_type == "text/html" and not html:
            html = _text_of(part, problems)
    if not body and html:
        body = strip_tags(html)
    parsed = Parsed(
        message_id=message_id[:300],
        sender=sender.lower()[:254],
        sender_name=name[:200],
        subject=_header(message, "Subject")[:300],
        date=_header(message, "Date")[:100],
        body=body.strip(),
        references=references,
        attachments=attachments,
        problems=problems,
    )
    return message, parsed


def is_bounce(message: Message, parsed: Parsed) -> bool:
    if message.get_content_type() == "multipart/report" and message.get_param("report-type") == "delivery-status":
        return True
    local = parsed.sender.split("@", 1)[0]
    return local in ("mailer-daemon", "postmaster")


def is_auto_reply(message: Message) -> bool:
    auto = _header(message, "Auto-Submitted").lower()
    if auto and auto != "no":
        return True
    if _header(message, "Precedence").lower() in ("auto_reply", "bulk", "junk", "list"):
        return True
    return bool(_header(message, "X-Autoreply") or _header(message, "X-Autorespond"))


def bounced_recipients(message: Message) -> list[tuple[str, str]]:
    """(address, reason) for each failed recipient of a delivery report."""
    found: list[tuple[str, str]] = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else []
        fields: dict[str, str] = {}
        for block in blocks:
            if not isinstance(block, Message):
                continue
            for key, value in block.items():
                fields[key.lower()] = str(value)
            if fields.get("final-recipient") and fields.get("action", "failed").lower() == "failed":
                address = fields["final-recipient"].split(";", 1)[-1].strip().lower()
                reason = fields.get("diagnostic-code") or fields.get("status", "")
                found.append((address, reason))
                fields = {}
    if not found:  # a report without a readable status part: the address in the text, if any
        text = message.get_body(preferencelist=("plain",)) if isinstance(message, EmailMessage) else None
        content = text.get_content() if text is not None else ""
        for _, address in getaddresses(re.findall(r"[\w.+-]+@[\w.-]+\.\w+", content)):
            found.append((address.lower(), "delivery failed"))
    return found


def _thread(parsed: Parsed) -> Ticket | None:
    if parsed.references:
        entry = TicketMessage.objects.filter(message_id__in=parsed.references).order_by("-at").first()
        if entry is not None:
            return entry.ticket
        sent = OutgoingEmail.objects.filter(message_id__in=parsed.references, ticket__isnull=False).first()
        if sent is not None:
            return sent.ticket
    match = _TAG.search(parsed.subject)
    if match:
        return Ticket.objects.filter(number=int(match.group(1))).first()
    return None


def _can_reopen(ticket: Ticket, now: datetime) -> bool:
    if ticket.status == TicketStatus.CLOSED:
        return False
    if ticket.status == TicketStatus.RESOLVED and ticket.resolved_at is not None:
        return get_policy().support.auto_close_after.after(ticket.resolved_at) > now
    return True


def ingest(raw: bytes, *, now: datetime | None = None) -> InboundMessage | None:
    """Handle one raw message; None when its Message-ID was already handled (nothing changes)."""
    now = now or timezone.now()
    message, parsed = parse(raw)
    if InboundMessage.objects.filter(message_id=parsed.message_id).exists():
        return None
    record = InboundMessage(
        message_id=parsed.message_id,
        received_at=now,
        sender=parsed.sender,
        subject=parsed.subject,
        sent_header=parsed.date,
        size=len(raw),
    )
    try:
        with transaction.atomic():
            if is_bounce(message, parsed):
                record.outcome = InboundOutcome.BOUNCE
                failed = bounced_recipients(message)
                for address, reason in failed:
                    Contact.objects.filter(email=address).update(bounced_at=now, bounce_reason=reason[:1000])
                record.detail = "; ".join(f"{a}: {r}" for a, r in failed) or "no recipient found"
            elif is_auto_reply(message):
                record.outcome = InboundOutcome.AUTO_REPLY
                record.ticket = _thread(parsed)
            else:
                ticket = _thread(parsed)
                if ticket is not None and _can_reopen(ticket, now):
                    contact = services.contact_for(email=parsed.sender, name=parsed.sender_name)
                    services.customer_message(
                        ticket=ticket,
                        contact=contact,
                        body=parsed.body or "(no text)",
                        message_id=parsed.message_id,
                        attachments=parsed.attachments,
                        at=now,
                    )
                    record.outcome, record.ticket = InboundOutcome.REPLY, ticket
                else:
                    priority = "P3" if "P3" in get_policy().support.tiers else sorted(get_policy().support.tiers)[-1]
                    new = services.create_ticket(
                        subject=parsed.subject,
                        description=parsed.body or "(no text)",
                        requester_email=parsed.sender,
                        requester_name=parsed.sender_name,
                        priority=priority,
                        channel=Channel.EMAIL,
                        message_id=parsed.message_id,
                        attachments=parsed.attachments,
                        at=now,
                    )
                    if ticket is not None:
                        services.add_note(
                            ticket=new, body=f"Follow-up of {ticket.public_id}, which was closed.", actor=None, at=now
                        )
                    record.outcome, record.ticket = InboundOutcome.TICKET, new
            record.detail = "; ".join([record.detail, *parsed.problems]).strip("; ")[:5000]
            record.save()
    except IntegrityError:  # the same message handled concurrently by another fetch
        if InboundMessage.objects.filter(message_id=parsed.message_id).exists():
            return None
        raise
    return record


# --- The mailbox ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mailbox:
    host: str
    port: int
    user: str
    password: str
    folder: str
    error_folder: str
    done_folder: str
    tls: bool
    starttls: bool


def mailbox_from_url(url: str) -> Mailbox:
    """Read ``SUPPORT_IMAP_URL``; a ValueError names what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps"):
        raise ValueError(f"SUPPORT_IMAP_URL must start with imap:// or imaps://, not {parts.scheme!r}")
    if not parts.hostname or not parts.username:
        raise ValueError("SUPPORT_IMAP_URL needs a user and a host: imap://user:password@host:143/INBOX")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return Mailbox(
        host=parts.hostname,
        port=parts.port or (993 if parts.scheme == "imaps" else 143),
        user=unquote(parts.username),
        password=unquote(parts.password or ""),
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
        error_folder=query.get("error_folder", "Errors"),
        done_folder=query.get("done_folder", "Processed"),
        tls=parts.scheme == "imaps",
        starttls=query.get("starttls", "false").lower() == "true",
    )


@dataclass
class FetchResult:
    handled: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)


def _move(client: imaplib.IMAP4, uid: bytes, folder: str) -> None:
    client.create(folder)  # fails harmlessly when it exists
    status, _ = client.uid("MOVE", uid.decode(), folder)
    if status != "OK":
        client.uid("COPY", uid.decode(), folder)
        client.uid("STORE", uid.decode(), "+FLAGS", r"(\Deleted)")
        client.expunge()


def fetch_mailbox(*, url: str | None = None, now: datetime | None = None, limit: int = 200) -> FetchResult:
    """Fetch the support mailbox once: every message handled, moved to the done or the error folder."""
    url = url if url is not None else settings.SUPPORT_IMAP_URL
    if not url:
        raise ValueError("SUPPORT_IMAP_URL is not set (README, 'Support e-mail')")
    box = mailbox_from_url(url)
    result = FetchResult()
    state, _ = MailboxState.objects.get_or_create(name="support")
    started = now or timezone.now()
    try:
        client: imaplib.IMAP4 = (
            imaplib.IMAP4_SSL(box.host, box.port, ssl_context=ssl.create_default_context(), timeout=30)
            if box.tls
            else imaplib.IMAP4(box.host, box.port, timeout=30)
        )
        try:
            if box.starttls:
                client.starttls(ssl.create_default_context())
            client.login(box.user, box.password)
            status, _ = client.select(_quote(box.folder))
            if status != "OK":
                raise imaplib.IMAP4.error(f"cannot open folder {box.folder!r}")
            _, data = client.uid("SEARCH", "ALL")
            uids = data[0].split()[:limit] if data and data[0] else []
            for uid in uids:
                _, fetched = client.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
                raw = next((item[1] for item in fetched if isinstance(item, tuple)), b"")
                try:
                    record = ingest(raw, now=now)
                except Exception as exc:  # never lose a message nor stop the loop: error folder, reported
                    reason = f"{type(exc).__name__}: {exc}"
                    logger.warning("Support mail UID %s moved to %s: %s", uid.decode(), box.error_folder, reason)
                    result.errors.append(f"UID {uid.decode()}: {reason}")
                    _record_error(raw, reason, now=now)
                    _move(client, uid, _quote(box.error_folder))
                    continue
                if record is None:
                    result.duplicates += 1
                else:
                    result.handled += 1
                _move(client, uid, _quote(box.done_folder))
            client.expunge()
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                client.logout()
    except (imaplib.IMAP4.error, OSError) as exc:
        MailboxState.objects.filter(pk=state.pk).update(
            last_fetch_at=started, last_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise ConnectionError(f"{box.host}:{box.port}: {type(exc).__name__}: {exc}") from exc
    MailboxState.objects.filter(pk=state.pk).update(
        last_fetch_at=started,
        last_success_at=started,
        last_error="; ".join(result.errors)[:2000],
        fetched=state.fetched + result.handled,
    )
    return result


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _record_error(raw: bytes, reason: str, *, now: datetime | None) -> None:
    digest = hashlib.sha256(raw).hexdigest()
    match = _MSGID.search(raw[:20000].decode("latin-1"))
    message_id = (match.group(0) if match else f"<sha256-{digest}@opsgov.missing>")[:300]
    InboundMessage.objects.get_or_create(
        message_id=message_id,
        defaults={
            "received_at": now or timezone.now(),
            "outcome": InboundOutcome.ERROR,
            "detail": reason[:5000],
            "size": len(raw),
        },
    )
