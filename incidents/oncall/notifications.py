"""Notifications about incidents: who gets which message, and delivering it by email or webhook.

Creating (`create_for_level`, inside an escalation step's transaction)
----------------------------------------------------------------------
One `Notification` row per recipient and destination: each person's account
email, plus their enabled `NotificationChannel`s (email addresses, webhooks),
plus the enabled webhook channels of the service's owner team. A destination
appears once per level even if two people share it. Delivery is enqueued when
the transaction commits; the sweeper picks the row up only if that enqueue was
lost (after the policy's publish grace).

Delivering (`deliver`): at least once, never twice at the same time
------------------------------------------------------------------
The rows are an outbox (opsgov.outbox, whose docstring has the state machine):
`NOTIFICATIONS` with `POLICY`, five attempts, 1, 2, 4, 8 minutes apart, a
failed attempt waiting as "retrying".

1. Claim: a conditional UPDATE moves the row to "sending" with a lease, so two
   workers, a redelivered task (acks_late) and the sweeper never send it
   concurrently. No transaction or lock is held while talking to the network.
2. Send: email with text and HTML parts through Django's email backend, or a
   JSON POST signed with HMAC-SHA256 (`sign`), 5 s socket timeout, no redirects
   followed. Any exception is a failed attempt, recorded, never raised.
3. Record (one transaction, conditional on still holding the claim): "sent",
   "retrying" or "failed". Each outcome adds a "notification" entry to the
   incident's timeline with the response status.

Retries are not Celery countdowns: the sweeper (`due_notification_ids`, run by
`incidents.oncall.tasks.retry_due_notifications`) enqueues what is due, so a broker
outage or a lost message delays a notification but never drops it. A worker
killed after sending but before recording means one duplicate message after
the lease: delivery is at least once; webhook receivers can deduplicate on the
`X-Opsgov-Delivery` header (the notification id).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from opsgov.outbox import Outbox, OutboxPolicy
from opsgov.policy import get_policy

from ..context import incident_context
from ..models import (
    ChannelKind,
    Incident,
    IncidentStatus,
    Notification,
    NotificationChannel,
    NotificationStatus,
    TimelineEvent,
    TimelineKind,
)

logger = logging.getLogger(__name__)

#: The outbox's default numbers (opsgov.outbox.OutboxPolicy): five attempts 1, 2, 4, 8 minutes apart, a
#: claimed ("sending") notification its sender's for 3 minutes (longer than the delivery task's time limit),
#: a new one taken by the sweeper only if still pending 30 s after its on-commit enqueue.
POLICY = OutboxPolicy(retry_status=NotificationStatus.RETRYING)
NOTIFICATIONS: Outbox[Notification] = Outbox(Notification, POLICY)
#: The delivery task (incidents.oncall.tasks.deliver_notification), published by name.
DELIVERY_TASK = "incidents.notify_tasks.deliver_notification"
#: Webhook socket timeout (connect, and each read/write), in seconds.
WEBHOOK_TIMEOUT = 5.0
#: How much of a failed response's body or an error is kept.
ERROR_LIMIT = 1000

USER_AGENT = "opsgov-webhook/1"
SIGNATURE_HEADER = "X-Opsgov-Signature"
TIMESTAMP_HEADER = "X-Opsgov-Timestamp"
DELIVERY_HEADER = "X-Opsgov-Delivery"


class WebhookError(Exception):
    """A webhook could not be posted (bad URL, connection refused, timeout...)."""


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one delivery attempt."""

    notification_id: int
    attempt: int
    status: str
    response_status: int | None = None
    error: str = ""


# --- Who gets what ---------------------------------------------------------------------------


def create_for_level(
    *, incident: Incident, level: int, users: Sequence[Any], now: datetime | None = None
) -> list[Notification]:
    """Notifications of escalation `level` of `incident` to `users` (and the owner team's webhooks).

    Call it inside the escalation step's transaction: the rows and their
    delivery enqueue commit (or roll back) with the step.
    """
    now = now or timezone.now()
    reason = f"Escalation level {level}: {incident.public_id} is not acknowledged"
    channels = list(
        NotificationChannel.objects.filter(user__in=[u.pk for u in users], enabled=True).order_by("kind", "pk")
    )
    by_user: dict[int, list[NotificationChannel]] = {}
    for channel in channels:
        if channel.user_id is not None:
            by_user.setdefault(channel.user_id, []).append(channel)

    rows: list[Notification] = []
    seen: set[tuple[str, str]] = set()

    def add(kind: str, destination: str, *, recipient: Any = None, channel: NotificationChannel | None = None) -> None:
        key = (kind, destination.strip().lower())
        if not destination or key in seen:
            return
        seen.add(key)
        rows.append(
            Notification(
                incident=incident,
                kind=kind,
                recipient=recipient,
                channel=channel,
                destination=destination,
                level=level,
                reason=reason,
                status=NotificationStatus.PENDING,
                next_attempt_at=NOTIFICATIONS.first_attempt_at(now),
                created_at=now,
            )
        )

    for user in users:
        add(ChannelKind.EMAIL, user.email or "", recipient=user)
        for channel in by_user.get(user.pk, []):
            add(channel.kind, _channel_destination(channel), recipient=user, channel=channel)
    team_id = incident.service.owner_team_id
    for channel in NotificationChannel.objects.filter(team_id=team_id, kind=ChannelKind.WEBHOOK, enabled=True):
        add(channel.kind, channel.url, channel=channel)

    for row in rows:
        row.save(force_insert=True)
    enqueue_on_commit(row.pk for row in rows)
    return rows


def _channel_destination(channel: NotificationChannel) -> str:
    return channel.address if channel.kind == ChannelKind.EMAIL else channel.url


def enqueue_on_commit(notification_ids: Iterable[int]) -> None:
    """Enqueue delivery of the notifications once the current transaction commits (never raises)."""
    NOTIFICATIONS.enqueue_on_commit(DELIVERY_TASK, notification_ids)


def enqueue_deliveries(notification_ids: Iterable[int]) -> int:
    """Publish the delivery of each notification; stops at the first broker error (the sweeper retries).

    Returns how many were published.
    """
    return NOTIFICATIONS.enqueue(DELIVERY_TASK, notification_ids)


# --- Content ---------------------------------------------------------------------------------


def absolute_url(path: str) -> str:
    return settings.OPSGOV_BASE_URL.rstrip("/") + path


def incident_links(incident: Incident) -> dict[str, str]:
    """Absolute links for messages: the incident page, and the page opened at its acknowledge/resolve form.

    The actions need a login and a POST from the page's forms: no link changes anything by itself.
    """
    page = absolute_url(incident.get_absolute_url())
    return {
        "incident": page,
        "acknowledge": f"{page}?action=acknowledge#actions-heading",
        "resolve": f"{page}?action=resolve#actions-heading",
    }


def event_name(notification: Notification, incident: Incident) -> str:
    """The webhook `event`: incident.triggered (level 1), incident.escalated (later levels), else the status."""
    if notification.level == 1:
        return "incident.triggered"
    if notification.level is not None and notification.level > 1:
        return "incident.escalated"
    return f"incident.{incident.status}"


def email_subject(notification: Notification, incident: Incident) -> str:
    """E.g. "[SEV-2] INC-42 Checkout errors — triggered" (and the level from level 2 on)."""
    title = " ".join(incident.title.split())  # no line breaks in a header
    status = IncidentStatus(incident.status).label.lower()
    subject = f"[{incident.severity}] {incident.public_id} {title} — {status}"
    if notification.level is not None and notification.level > 1:
        subject += f" (escalation level {notification.level})"
    return subject


def email_context(notification: Notification, incident: Incident) -> dict[str, Any]:
    level = get_policy().incidents.severities.get(incident.severity)
    recipient = notification.recipient
    return {
        "incident": incident,
        "notification": notification,
        "service": incident.service,
        "status": IncidentStatus(incident.status).label,
        "severity_description": level.description if level else "",
        "response_target": str(level.response_target) if level else "",
        "links": incident_links(incident),
        "recipient_name": (recipient.get_full_name() or recipient.get_username()) if recipient is not None else "",
        "subject": email_subject(notification, incident),
        # Runbooks, descriptions, links, images, client and details (incidents.context), as on the page.
        "responder_context": incident_context(incident),
    }


def build_email(notification: Notification, incident: Incident | None = None) -> EmailMultiAlternatives:
    """The email of `notification`: a text part and an HTML alternative, from the templates."""
    incident = incident or notification.incident
    context = email_context(notification, incident)
    message = EmailMultiAlternatives(
        subject=context["subject"],
        body=render_to_string("incidents/email/notification.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.destination],
        headers={
            "Auto-Submitted": "auto-generated",
            "X-Opsgov-Incident": incident.public_id,
            DELIVERY_HEADER: str(notification.pk),
        },
    )
    message.attach_alternative(render_to_string("incidents/email/notification.html", context), "text/html")
    return message


def webhook_payload(notification: Notification, incident: Incident, *, sent_at: datetime) -> dict[str, Any]:
    """The webhook's JSON body; `incident.context` has the shape of the API detail's `context` (incidents.context)."""
    return {
        "event": event_name(notification, incident),
        "incident": {
            "id": str(incident.uuid),
            "number": incident.pk,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
            "service": incident.service.slug,
            "url": incident_links(incident)["incident"],
            "triggered_at": incident.triggered_at.isoformat(),
            "context": incident_context(incident).as_json(),
        },
        "level": notification.level,
        "sent_at": sent_at.isoformat(),
    }


def sign(body: bytes, secret: str) -> str:
    """The signature header value: "sha256=" + hex HMAC-SHA256 of the raw body, keyed with the channel secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def build_webhook(
    notification: Notification, incident: Incident, *, secret: str, sent_at: datetime
) -> tuple[bytes, dict[str, str]]:
    """The raw JSON body and the headers of a webhook delivery (signed when the channel has a secret)."""
    body = json.dumps(webhook_payload(notification, incident, sent_at=sent_at), separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        TIMESTAMP_HEADER: str(int(sent_at.timestamp())),
        DELIVERY_HEADER: str(notification.pk),
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    return body, headers


def post_webhook(url: str, body: bytes, headers: dict[str, str], *, timeout: float = WEBHOOK_TIMEOUT) -> int:
    """POST `body` to `url` and return the HTTP status (redirects are not followed).

    Raises WebhookError when there is no HTTP answer; a non-2xx status is for the caller to judge.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"not an http(s) URL: {url}")
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    try:
        connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    except ValueError as exc:  # e.g. a port that is not a number
        raise WebhookError(f"bad URL {url}: {exc}") from exc
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(64 * 1024)
        return response.status
    except (OSError, http.client.HTTPException) as exc:
        raise WebhookError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()


# --- Delivery --------------------------------------------------------------------------------


def claim(notification_id: int, *, now: datetime | None = None) -> bool:
    """Take `notification_id` for one delivery attempt; False if it is not due or someone else has it."""
    return NOTIFICATIONS.claim(notification_id, now=now or timezone.now())


def deliver(*, notification_id: int, now: datetime | None = None) -> DeliveryResult | None:
    """One delivery attempt of `notification_id`, if it can be claimed; the outcome is recorded, never raised.

    Returns None when there was nothing to do (not due, delivered already, or another worker has it).
    """
    if not claim(notification_id, now=now):
        return None
    notification = Notification.objects.select_related("incident__service", "channel", "recipient").get(
        pk=notification_id
    )
    incident = notification.incident
    response_status: int | None = None
    error = ""
    try:
        if notification.kind == ChannelKind.WEBHOOK:
            response_status = _send_webhook(notification, incident)
            if not 200 <= response_status < 300:
                error = f"HTTP {response_status}"
        else:
            sent = build_email(notification, incident).send(fail_silently=False)
            if sent != 1:
                error = "the email backend did not send the message"
    except Exception as exc:  # every failure is a failed attempt, recorded and retried, never raised
        logger.warning("Delivering notification %s failed: %s: %s", notification_id, type(exc).__name__, exc)
        error = f"{type(exc).__name__}: {exc}"
    return _record(notification, response_status=response_status, error=error[:ERROR_LIMIT])


def _send_webhook(notification: Notification, incident: Incident) -> int:
    channel = notification.channel
    secret = channel.secret if channel is not None else ""
    body, headers = build_webhook(notification, incident, secret=secret, sent_at=timezone.now())
    return post_webhook(notification.destination, body, headers)


@transaction.atomic
def _record(notification: Notification, *, response_status: int | None, error: str) -> DeliveryResult:
    now = timezone.now()
    attempt = notification.attempts
    outcome = NOTIFICATIONS.record(notification, error=error, now=now, response_status=response_status)
    result = DeliveryResult(
        notification_id=notification.pk,
        attempt=attempt,
        status=outcome.status,
        response_status=response_status,
        error=error,
    )
    if outcome.held:
        _log_outcome(notification, result, now)
    return result


def _log_outcome(notification: Notification, result: DeliveryResult, now: datetime) -> None:
    what = f"{notification.get_kind_display()} to {notification.destination}"
    http = f" (HTTP {result.response_status})" if result.response_status is not None else ""
    if result.status == NotificationStatus.SENT:
        message = f"{what} delivered{http}"
    elif result.status == NotificationStatus.FAILED:
        message = f"{what} failed after {result.attempt} attempts: {result.error}"
    else:
        retry_at = timezone.localtime(notification.next_attempt_at)
        message = (
            f"{what} not delivered (attempt {result.attempt} of {POLICY.max_attempts}: {result.error}); "
            f"retrying at {retry_at:%H:%M:%S}"
        )
    TimelineEvent.objects.create(
        incident_id=notification.incident_id,
        kind=TimelineKind.NOTIFICATION,
        at=now,
        message=message,
        data={
            "notification": notification.pk,
            "kind": notification.kind,
            "destination": notification.destination,
            "level": notification.level,
            "status": result.status,
            "attempt": result.attempt,
            "response_status": result.response_status,
            "error": result.error,
        },
    )


# --- The sweeper -----------------------------------------------------------------------------


def due_notification_ids(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Notifications to (re)try now: pending or retrying ones whose time came, and lost "sending" ones.

    Lost sends (lease expired) that used their last attempt are marked failed here instead.
    """
    now = now or timezone.now()
    NOTIFICATIONS.fail_lost(now=now, error=_LOST, on_failed=lambda notification: _log_lost(notification, now))
    return list(NOTIFICATIONS.due(now=now).order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])


_LOST = "the last attempt was lost (worker stopped while sending)"


def _log_lost(notification: Notification, now: datetime) -> None:
    result = DeliveryResult(
        notification_id=notification.pk,
        attempt=notification.attempts,
        status=NotificationStatus.FAILED,
        error=_LOST,
    )
    _log_outcome(notification, result, now)
