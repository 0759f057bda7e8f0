"""Writes of the support app: tickets, their conversation, status, clocks, surveys.

Every function takes keyword-only arguments, validates with ``full_clean()``, runs in one transaction,
and records what changed on the ticket's timeline (TicketEvent); the audit trail (auditlog) records the
field changes. Instants are opsgov's (``timezone.now()``) unless an import passes recorded ones.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from opsgov.events import ServiceAlert, raise_alert
from opsgov.models import Service, Team
from opsgov.policy import get_policy
from opsgov.sla import due_at

from . import sla
from .mail_out import email_row, queue_email, queue_emails
from .models import (
    NUMBER_OFFSET,
    OPEN_STATUSES,
    Attachment,
    Channel,
    ClockPause,
    Contact,
    CsatSurvey,
    FollowUp,
    MailKind,
    MessageKind,
    OutgoingEmail,
    PauseReason,
    SlaBreach,
    SlaClock,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketMessage,
    TicketStatus,
)

logger = logging.getLogger(__name__)

Actor = Any  # a user, or None for opsgov itself


class SupportError(ValidationError):
    """A request the ticket's state does not allow; the API answers 400."""


@dataclass(frozen=True)
class IncomingFile:
    """An attachment as received: name, declared type, bytes."""

    filename: str
    content_type: str
    content: bytes


def attachment_storage() -> FileSystemStorage:
    return FileSystemStorage(location=settings.SUPPORT_ATTACHMENT_DIR)


def _now(at: datetime | None) -> datetime:
    return at or timezone.now()


def _log(ticket: Ticket, kind: str, message: str, *, at: datetime, actor: Actor = None, **data: Any) -> None:
    TicketEvent.objects.create(ticket=ticket, kind=kind, message=message[:500], at=at, actor=actor, data=data)


def _locked(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


def base_url() -> str:
    return settings.OPSGOV_BASE_URL.rstrip("/")


# --- Contacts ------------------------------------------------------------------------------------------


def contact_for(*, email: str, name: str = "", organisation: str = "") -> Contact:
    """The contact with this address (case-insensitive), created on first use; a new name fills a blank."""
    address = email.strip().lower()
    contact = Contact.objects.filter(email=address).first()
    if contact is None:
        contact = Contact(email=address, name=name[:200], organisation=organisation[:200])
        contact.full_clean()
        contact.save()
    elif (name and not contact.name) or (organisation and not contact.organisation):
        contact.name = contact.name or name[:200]
        contact.organisation = contact.organisation or organisation[:200]
        contact.save(update_fields=["name", "organisation", "updated_at"])
    return contact


# --- Clocks ----------------------------------------------------------------------------------------------


def _pauses(ticket: Ticket, clock: str) -> list[tuple[datetime, datetime | None]]:
    """The pauses of one clock: waiting on the customer (when the policy says so); resolution also stops
    between a resolution and a reopen."""
    reasons = []
    if get_policy().support.pause_while_waiting_on_customer:
        reasons.append(PauseReason.WAITING)
    if clock == "resolution":
        reasons.append(PauseReason.RESOLVED)
    return [(p.started_at, p.ended_at) for p in ClockPause.objects.filter(ticket=ticket, reason__in=reasons)]


def recompute_clocks(ticket: Ticket) -> Ticket:
    """Store the due and at-risk instants of both clocks from the tier, the opening and the pauses."""
    response = sla.instants(ticket.priority, "response", ticket.opened_at, _pauses(ticket, "response"))
    resolution = sla.instants(ticket.priority, "resolution", ticket.opened_at, _pauses(ticket, "resolution"))
    ticket.response_due_at, ticket.response_at_risk_at = response.due_at, response.at_risk_at
    ticket.resolution_due_at, ticket.resolution_at_risk_at = resolution.due_at, resolution.at_risk_at
    Ticket.objects.filter(pk=ticket.pk).update(
        response_due_at=response.due_at,
        response_at_risk_at=response.at_risk_at,
        resolution_due_at=resolution.due_at,
        resolution_at_risk_at=resolution.at_risk_at,
    )
    return ticket


def _open_pause(ticket: Ticket, reason: str, at: datetime) -> None:
    if not ClockPause.objects.filter(ticket=ticket, ended_at__isnull=True).exists():
        ClockPause.objects.create(ticket=ticket, reason=reason, started_at=at)


def _close_pause(ticket: Ticket, at: datetime) -> None:
    for pause in ClockPause.objects.filter(ticket=ticket, ended_at__isnull=True):
        pause.ended_at = max(at, pause.started_at)
        pause.save(update_fields=["ended_at"])


def _breach_notice(ticket: Ticket, clock: str, due: datetime, lead: str, *, now: datetime) -> OutgoingEmail:
    label = SlaClock(clock).label.lower()
    return email_row(
        kind=MailKind.BREACH,
        to=lead,
        ticket=ticket,
        subject=f"SLA breach: {label} on {ticket.priority} {ticket.subject}",
        text=f"The {label} target of {ticket.public_id} ({ticket.priority}) was due at {due:%Y-%m-%d %H:%M} UTC "
        f"and has passed.\n\n{base_url()}{ticket.get_absolute_url()}\n",
        now=now,
    )


def _lead_of(ticket: Ticket) -> str:
    return (ticket.team.email if ticket.team else "") or settings.SUPPORT_LEAD_EMAIL


def _record_breach(ticket: Ticket, clock: str, due: datetime, *, now: datetime) -> bool:
    """Record a missed target once, and notify the team lead once (in the same transaction)."""
    if SlaBreach.objects.filter(ticket=ticket, clock=clock).exists():
        return False
    lead = _lead_of(ticket)
    SlaBreach.objects.create(ticket=ticket, clock=clock, due_at=due, breached_at=now, notified_to=lead)
    field = "response_breached" if clock == SlaClock.RESPONSE else "resolution_breached"
    Ticket.objects.filter(pk=ticket.pk).update(**{field: True})
    setattr(ticket, field, True)
    label = SlaClock(clock).label.lower()
    _log(ticket, TicketEventKind.SLA, f"{label} target missed (due {due:%Y-%m-%d %H:%M} UTC)", at=now, clock=clock)
    if lead:
        queue_emails([_breach_notice(ticket, clock, due, lead, now=now)])
    return True


#: Tickets per transaction of the SLA cycle.
SLA_BATCH = 500


def run_sla_cycle(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Record the breaches whose due instant has passed, in batches: each batch is one transaction of a few
    statements (lock the tickets, insert the breaches, flag the tickets, insert the timeline entries and the
    notices), whatever its size. Reads the two partial indexes only; tickets another cycle holds are skipped."""
    now = _now(now)
    count = 0
    open_values = [s.value for s in OPEN_STATUSES]
    due = {
        SlaClock.RESPONSE: Q(first_response_at__isnull=True, response_breached=False, response_due_at__lt=now),
        SlaClock.RESOLUTION: Q(resolved_at__isnull=True, resolution_breached=False, resolution_due_at__lt=now),
    }
    for clock, condition in due.items():
        ids = list(
            Ticket.objects.filter(condition, status__in=open_values).order_by("pk").values_list("pk", flat=True)[:limit]
        )
        for start in range(0, len(ids), SLA_BATCH):
            count += _record_breaches(clock, condition, ids[start : start + SLA_BATCH], open_values, now=now)
    return count


def _record_breaches(clock: str, condition: Q, ids: list[int], open_values: list[str], *, now: datetime) -> int:
    field = "response_breached" if clock == SlaClock.RESPONSE else "resolution_breached"
    due_field = "response_due_at" if clock == SlaClock.RESPONSE else "resolution_due_at"
    label = SlaClock(clock).label.lower()
    with transaction.atomic():
        tickets = list(
            Ticket.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("team")
            .filter(condition, pk__in=ids, status__in=open_values)
        )
        known = set(SlaBreach.objects.filter(ticket__in=tickets, clock=clock).values_list("ticket_id", flat=True))
        tickets = [ticket for ticket in tickets if ticket.pk not in known]
        if not tickets:
            return 0
        leads = {ticket.pk: _lead_of(ticket) for ticket in tickets}
        SlaBreach.objects.bulk_create(
            SlaBreach(ticket=t, clock=clock, due_at=getattr(t, due_field), breached_at=now, notified_to=leads[t.pk])
            for t in tickets
        )
        Ticket.objects.filter(pk__in=[t.pk for t in tickets]).update(**{field: True})
        TicketEvent.objects.bulk_create(
            TicketEvent(
                ticket=t,
                kind=TicketEventKind.SLA,
                at=now,
                message=f"{label} target missed (due {getattr(t, due_field):%Y-%m-%d %H:%M} UTC)",
                data={"clock": clock},
            )
            for t in tickets
        )
        queue_emails(
            [_breach_notice(t, clock, getattr(t, due_field), leads[t.pk], now=now) for t in tickets if leads[t.pk]]
        )
    return len(tickets)


# --- Tickets ---------------------------------------------------------------------------------------------


def _store_attachments(message: TicketMessage, files: Sequence[IncomingFile]) -> list[Attachment]:
    policy = get_policy().support
    stored = []
    storage = attachment_storage()
    for upload in files:
        name = (upload.filename or "attachment").replace("/", "_").replace("\\", "_")[:255]
        content_type = (upload.content_type or "application/octet-stream").lower()[:100]
        row = Attachment(message=message, filename=name, content_type=content_type, size=len(upload.content))
        if len(upload.content) > policy.max_attachment_bytes:
            row.refused_reason = f"larger than the limit of {policy.max_attachment_bytes} bytes"
        elif content_type not in policy.attachment_types:
            row.refused_reason = f"type {content_type} is not accepted"
        else:
            row.sha256 = hashlib.sha256(upload.content).hexdigest()
            if not storage.exists(row.stored_name):
                storage.save(row.stored_name, ContentFile(upload.content))
        row.save()
        stored.append(row)
    return stored


def create_ticket(
    *,
    subject: str,
    description: str,
    requester_email: str,
    requester_name: str = "",
    organisation: str = "",
    priority: str = "P3",
    service: Service | None = None,
    team: Team | None = None,
    category: str = "",
    tags: Sequence[str] = (),
    channel: str = Channel.WEB,
    actor: Actor = None,
    message_id: str = "",
    attachments: Sequence[IncomingFile] = (),
    acknowledge: bool = True,
    at: datetime | None = None,
) -> Ticket:
    """Open a ticket from a request: the customer's message, attachments, clocks, acknowledgement."""
    now = _now(at)
    with transaction.atomic():
        contact = contact_for(email=requester_email, name=requester_name, organisation=organisation)
        ticket = Ticket(
            subject=(subject.strip() or "(no subject)")[:300],
            description=description,
            requester=contact,
            priority=priority,
            service=service,
            team=team or (service.owner_team if service else None),
            category=category[:100],
            tags=list(tags),
            channel=channel,
            opened_at=now,
        )
        ticket.full_clean()
        ticket.save()
        ticket.number = ticket.pk + NUMBER_OFFSET
        ticket.save(update_fields=["number"])
        message = TicketMessage.objects.create(
            ticket=ticket, kind=MessageKind.CUSTOMER, contact=contact, body=description, at=now, message_id=message_id
        )
        _store_attachments(message, attachments)
        by = f" by {actor}" if actor else ""
        _log(ticket, TicketEventKind.CREATED, f"Opened{by} via {Channel(channel).label}", at=now, actor=actor)
        recompute_clocks(ticket)
        if acknowledge:
            queue_email(
                kind=MailKind.ACK,
                to=contact.email,
                contact=contact,
                ticket=ticket,
                subject=f"Re: {ticket.subject}",
                text=f"We received your request and opened {ticket.public_id}. "
                f"Reply to this e-mail to add to it; keep {ticket.tag} in the subject.\n\n"
                f"Priority {ticket.priority}: first response within "
                f"{get_policy().support.tiers[ticket.priority].response}.\n",
                in_reply_to=message_id,
                references=message_id,
                now=now,
            )
        if ticket.priority == "P1" and ticket.service is not None:
            link_incident(ticket=ticket, at=now)
    return ticket


def link_incident(*, ticket: Ticket, at: datetime | None = None) -> str:
    """A P1 ticket on a service: link to the service's open support incident, or declare one.

    Through opsgov.events (no sibling import): a firing ServiceAlert with the service's support key
    ``support:p1:<service id>`` opens an incident (SEV-1) in incidents, or, while one is open for that
    key, adds a signal to it. The key is stored on the ticket; incidents publishes IncidentResolved with
    it when the incident resolves (support.incident_link posts the note).
    """
    if ticket.service_id is None:
        raise SupportError({"service": ["a P1 ticket needs a service to link an incident to"]})
    now = _now(at)
    key = f"support:p1:{ticket.service_id}"
    raise_alert(
        ServiceAlert(
            service_id=ticket.service_id,
            key=key,
            status="firing",
            severity=get_policy().incidents.most_severe(["SEV-1"], "SEV-1"),
            title=f"P1 support ticket {ticket.public_id}: {ticket.subject}"[:200],
            at=now,
            source="support",
            summary=ticket.description[:1000],
            details={"ticket": ticket.public_id, "url": f"{base_url()}{ticket.get_absolute_url()}"},
        )
    )
    Ticket.objects.filter(pk=ticket.pk).update(incident_key=key, incident_resolved_at=None)
    ticket.incident_key = key
    _log(ticket, TicketEventKind.INCIDENT, "Linked to the service's incident (declared if none was open)", at=now)
    return key


def incident_resolved(*, key: str, incident: str, at: datetime) -> int:
    """Post a note on every ticket linked to the resolved incident of `key`; returns how many."""
    count = 0
    for ticket in Ticket.objects.filter(incident_key=key, incident_resolved_at__isnull=True).select_for_update():
        TicketMessage.objects.create(
            ticket=ticket,
            kind=MessageKind.NOTE,
            body=f"Incident {incident} was resolved at {at:%Y-%m-%d %H:%M} UTC.",
            at=at,
        )
        ticket.incident_resolved_at = at
        ticket.save(update_fields=["incident_resolved_at", "updated_at"])
        _log(ticket, TicketEventKind.INCIDENT, f"Incident {incident} resolved", at=at)
        count += 1
    return count


def _thread_headers(ticket: Ticket) -> tuple[str, str]:
    ids = [m for m in ticket.messages.exclude(message_id="").order_by("at", "id").values_list("message_id", flat=True)]
    return (ids[-1] if ids else ""), " ".join(ids[-10:])


def reply(*, ticket: Ticket, body: str, actor: Actor, at: datetime | None = None) -> TicketMessage:
    """A public agent reply: e-mailed to the requester; the first one stops the first-response clock."""
    if not body.strip():
        raise SupportError({"body": ["a reply needs text"]})
    now = _now(at)
    with transaction.atomic():
        ticket = _locked(ticket)
        if ticket.status == TicketStatus.CLOSED:
            raise SupportError({"status": [f"{ticket.public_id} is closed"]})
        in_reply_to, references = _thread_headers(ticket)
        email = queue_email(
            kind=MailKind.REPLY,
            to=ticket.requester.email,
            contact=ticket.requester,
            ticket=ticket,
            subject=f"Re: {ticket.subject}",
            text=body,
            in_reply_to=in_reply_to,
            references=references,
            now=now,
        )
        message = TicketMessage.objects.create(
            ticket=ticket, kind=MessageKind.REPLY, author=actor, body=body, at=now, message_id=email.message_id
        )
        fields = ["updated_at"]
        if ticket.first_response_at is None:
            ticket.first_response_at = now
            fields.append("first_response_at")
            if ticket.response_due_at is not None and now > ticket.response_due_at:
                _record_breach(ticket, SlaClock.RESPONSE, ticket.response_due_at, now=now)
        if ticket.status == TicketStatus.NEW:
            ticket.status = TicketStatus.OPEN
            fields.append("status")
        ticket.save(update_fields=fields)
        _log(ticket, TicketEventKind.MESSAGE, f"Public reply by {actor}", at=now, actor=actor, entry=message.pk)
    return message


def add_note(*, ticket: Ticket, body: str, actor: Actor, at: datetime | None = None) -> TicketMessage:
    """An internal note: never e-mailed, never a first response."""
    if not body.strip():
        raise SupportError({"body": ["a note needs text"]})
    now = _now(at)
    with transaction.atomic():
        message = TicketMessage.objects.create(ticket=ticket, kind=MessageKind.NOTE, author=actor, body=body, at=now)
        _log(ticket, TicketEventKind.MESSAGE, f"Internal note by {actor}", at=now, actor=actor, entry=message.pk)
    return message


def customer_message(
    *,
    ticket: Ticket,
    contact: Contact,
    body: str,
    message_id: str = "",
    attachments: Sequence[IncomingFile] = (),
    at: datetime | None = None,
) -> TicketMessage:
    """A customer's message on a ticket: resumes a ticket waiting on them, reopens a resolved one."""
    now = _now(at)
    with transaction.atomic():
        ticket = _locked(ticket)
        message = TicketMessage.objects.create(
            ticket=ticket, kind=MessageKind.CUSTOMER, contact=contact, body=body, at=now, message_id=message_id
        )
        _store_attachments(message, attachments)
        _log(ticket, TicketEventKind.MESSAGE, f"Customer message from {contact.email}", at=now, entry=message.pk)
        if ticket.status in (TicketStatus.WAITING, TicketStatus.RESOLVED):
            _set_status(ticket, TicketStatus.OPEN, actor=None, now=now, why="customer replied")
    return message


def _set_status(ticket: Ticket, status: str, *, actor: Actor, now: datetime, why: str = "") -> None:
    previous = ticket.status
    if previous == status:
        return
    if previous == TicketStatus.CLOSED:
        raise SupportError({"status": [f"{ticket.public_id} is closed; open a new ticket"]})
    ticket.status = status
    fields = ["status", "updated_at"]
    if previous in (TicketStatus.WAITING, TicketStatus.RESOLVED):
        _close_pause(ticket, now)
    if status == TicketStatus.WAITING:
        _open_pause(ticket, PauseReason.WAITING, now)
    if status == TicketStatus.RESOLVED:
        ticket.resolved_at = now
        fields.append("resolved_at")
        _open_pause(ticket, PauseReason.RESOLVED, now)
        if ticket.resolution_due_at is not None and now > ticket.resolution_due_at:
            _record_breach(ticket, SlaClock.RESOLUTION, ticket.resolution_due_at, now=now)
    if previous == TicketStatus.RESOLVED and status in OPEN_STATUSES:
        ticket.resolved_at = None
        fields.append("resolved_at")
    if status == TicketStatus.CLOSED:
        ticket.closed_at = now
        fields.append("closed_at")
    ticket.save(update_fields=fields)
    suffix = f" ({why})" if why else ""
    label = TicketStatus(status).label
    _log(ticket, TicketEventKind.STATUS, f"{label}{suffix}", at=now, actor=actor, **{"from": previous, "to": status})
    recompute_clocks(ticket)
    if status == TicketStatus.RESOLVED:
        send_survey(ticket=ticket, now=now)


def set_status(*, ticket: Ticket, status: str, actor: Actor, at: datetime | None = None) -> Ticket:
    """Move a ticket through new → open → waiting on customer → resolved → closed (or back to open)."""
    if status not in TicketStatus.values:
        raise SupportError({"status": [f"unknown status {status!r}"]})
    with transaction.atomic():
        ticket = _locked(ticket)
        _set_status(ticket, status, actor=actor, now=_now(at))
    return ticket


def change_priority(*, ticket: Ticket, priority: str, actor: Actor, at: datetime | None = None) -> Ticket:
    """A new tier re-bases both targets (from the opening, minus pauses); recorded on the timeline."""
    now = _now(at)
    with transaction.atomic():
        ticket = _locked(ticket)
        previous = ticket.priority
        if previous == priority:
            return ticket
        ticket.priority = priority
        ticket.full_clean()
        ticket.save(update_fields=["priority", "updated_at"])
        recompute_clocks(ticket)
        _log(
            ticket,
            TicketEventKind.PRIORITY,
            f"Priority {previous} → {priority}; targets re-based",
            at=now,
            actor=actor,
            **{"from": previous, "to": priority},
        )
        if priority == "P1" and ticket.service_id and not ticket.incident_key:
            link_incident(ticket=ticket, at=now)
    return ticket


def assign(
    *, ticket: Ticket, assignee: Any = None, team: Team | None = None, actor: Actor, at: datetime | None = None
) -> Ticket:
    """Give the ticket to a person and/or a team."""
    now = _now(at)
    with transaction.atomic():
        ticket = _locked(ticket)
        ticket.assignee = assignee
        if team is not None:
            ticket.team = team
        if ticket.status == TicketStatus.NEW and assignee is not None:
            ticket.status = TicketStatus.OPEN
        ticket.save(update_fields=["assignee", "team", "status", "updated_at"])
        who = str(assignee) if assignee else "nobody"
        _log(
            ticket,
            TicketEventKind.ASSIGN,
            f"Assigned to {who}",
            at=now,
            actor=actor,
            assignee=getattr(assignee, "pk", None),
        )
    return ticket


def auto_close(*, now: datetime | None = None) -> int:
    """Close the tickets resolved longer ago than the policy's auto-close period."""
    now = _now(now)
    period = get_policy().support.auto_close_after
    count = 0
    candidates = Ticket.objects.filter(status=TicketStatus.RESOLVED, resolved_at__isnull=False).order_by("pk")
    for ticket in candidates.iterator():
        if ticket.resolved_at is None or period.after(ticket.resolved_at) > now:
            continue
        with transaction.atomic():
            locked = _locked(ticket)
            if locked.status == TicketStatus.RESOLVED:
                _set_status(locked, TicketStatus.CLOSED, actor=None, now=now, why="auto-closed")
                count += 1
    return count


# --- CSAT ------------------------------------------------------------------------------------------------

_SALT = "support.csat"


def survey_token(survey: CsatSurvey) -> str:
    return signing.dumps({"s": survey.pk, "t": survey.ticket_id}, salt=_SALT)


def survey_url(survey: CsatSurvey) -> str:
    return f"{base_url()}{reverse('support-rate', kwargs={'token': survey_token(survey)})}"


def send_survey(*, ticket: Ticket, now: datetime) -> CsatSurvey | None:
    """On resolution: the rating link to the requester (once per ticket)."""
    if CsatSurvey.objects.filter(ticket=ticket).exists():
        return None
    policy = get_policy()
    survey = CsatSurvey.objects.create(
        ticket=ticket,
        sent_at=now,
        expires_at=due_at(now, policy.support.csat_link_valid_for, calendar=sla.policy_calendar()),
        agent=ticket.assignee,
        team=ticket.team,
        service=ticket.service,
        priority=ticket.priority,
    )
    url = survey_url(survey)
    queue_email(
        kind=MailKind.SURVEY,
        to=ticket.requester.email,
        contact=ticket.requester,
        ticket=ticket,
        subject=f"How did we do? {ticket.subject}",
        text=f"{ticket.public_id} is resolved. How satisfied are you with our support (1-5)?\n\n{url}\n\n"
        "Reply to this e-mail if the problem is not solved: the ticket reopens.",
        html=f"<p>{ticket.public_id} is resolved. How satisfied are you with our support?</p>"
        f'<p><a href="{url}">Rate our support (1-5)</a></p>'
        "<p>Reply to this e-mail if the problem is not solved: the ticket reopens.</p>",
        now=now,
    )
    _log(ticket, TicketEventKind.SURVEY, "Satisfaction survey sent", at=now)
    return survey


class RatingLinkError(Exception):
    """A rating link that cannot be used: tampered with, expired, or already answered."""


def survey_for_token(token: str, *, now: datetime | None = None) -> CsatSurvey:
    now = _now(now)
    try:
        data = signing.loads(token, salt=_SALT)
        survey = CsatSurvey.objects.select_related("ticket").get(pk=int(data["s"]), ticket_id=int(data["t"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError, CsatSurvey.DoesNotExist):
        raise RatingLinkError("This rating link is not valid (it may have been changed or mistyped).") from None
    if survey.rating is not None:
        raise RatingLinkError("This ticket has already been rated. Thank you!")
    if survey.expires_at <= now:
        raise RatingLinkError("This rating link has expired.")
    return survey


def record_rating(*, token: str, rating: int, comment: str = "", at: datetime | None = None) -> CsatSurvey:
    """Record the answer once (a conditional update); 1 or 2 opens a follow-up for the team lead."""
    now = _now(at)
    if rating not in range(1, 6):
        raise SupportError({"rating": ["choose 1 to 5"]})
    with transaction.atomic():
        survey = survey_for_token(token, now=now)
        updated = CsatSurvey.objects.filter(pk=survey.pk, rating__isnull=True).update(
            rating=rating, comment=comment[:5000], answered_at=now, updated_at=now
        )
        if updated != 1:
            raise RatingLinkError("This ticket has already been rated. Thank you!")
        survey.refresh_from_db()
        ticket = survey.ticket
        _log(ticket, TicketEventKind.SURVEY, f"Rated {rating}/5", at=now, rating=rating)
        if rating <= 2:
            follow_up = FollowUp.objects.create(
                ticket=ticket, survey=survey, team=survey.team, reason=f"{ticket.public_id} rated {rating}/5"
            )
            lead = (survey.team.email if survey.team else "") or settings.SUPPORT_LEAD_EMAIL
            if lead:
                queue_email(
                    kind=MailKind.FOLLOW_UP,
                    to=lead,
                    ticket=ticket,
                    subject=f"Low rating ({rating}/5): follow up",
                    text=f"{follow_up.reason}.\nComment: {comment or '(none)'}\n\n"
                    f"{base_url()}{ticket.get_absolute_url()}\n",
                    now=now,
                )
    return survey


def bulk_update(
    *, tickets: Sequence[Ticket], actor: Actor, assignee: Any = None, status: str = "", at: datetime | None = None
) -> int:
    """Assign and/or change the status of several tickets, all or nothing."""
    with transaction.atomic():
        for ticket in tickets:
            if assignee is not None:
                assign(ticket=ticket, assignee=assignee, actor=actor, at=at)
            if status:
                set_status(ticket=ticket, status=status, actor=actor, at=at)
    return len(tickets)


def import_ticket(
    *,
    subject: str,
    description: str,
    requester_email: str,
    priority: str,
    opened_at: datetime,
    requester_name: str = "",
    organisation: str = "",
    service: Service | None = None,
    category: str = "",
    channel: str = Channel.EMAIL,
    first_response_at: datetime | None = None,
    resolved_at: datetime | None = None,
    closed_at: datetime | None = None,
) -> Ticket:
    """A ticket from another tool's history, with its recorded instants: the clocks and breaches are computed
    as if it had been recorded live (no pauses known), nothing is e-mailed, no incident is declared.
    Breaches found this way are recorded as already handled ("imported")."""
    with transaction.atomic():
        ticket = create_ticket(
            subject=subject,
            description=description,
            requester_email=requester_email,
            requester_name=requester_name,
            organisation=organisation,
            priority=priority,
            service=None,
            category=category,
            channel=channel,
            acknowledge=False,
            at=opened_at,
        )
        ticket.service = service
        ticket.team = service.owner_team if service else None
        ticket.first_response_at = first_response_at
        ticket.resolved_at = resolved_at
        ticket.closed_at = closed_at
        ticket.status = (
            TicketStatus.CLOSED if closed_at else TicketStatus.RESOLVED if resolved_at else TicketStatus.OPEN
        )
        ticket.full_clean()
        ticket.save()
        if resolved_at is not None:
            ClockPause.objects.create(ticket=ticket, reason=PauseReason.RESOLVED, started_at=resolved_at)
        recompute_clocks(ticket)
        for clock, done, due in (
            (SlaClock.RESPONSE, first_response_at, ticket.response_due_at),
            (SlaClock.RESOLUTION, resolved_at, ticket.resolution_due_at),
        ):
            if due is not None and (done or timezone.now()) > due:
                SlaBreach.objects.create(
                    ticket=ticket, clock=clock, due_at=due, breached_at=done or timezone.now(), notified_to="(imported)"
                )
                setattr(ticket, f"{clock}_breached", True)
        ticket.save(update_fields=["response_breached", "resolution_breached"])
        _log(ticket, TicketEventKind.CREATED, "Imported from another tool's history", at=opened_at)
    return ticket
