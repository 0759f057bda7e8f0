"""Dead letters: accepted events whose processing failed MAX_ATTEMPTS times (incidents.ingest.services).

What "dead-lettered" means: a RawEvent with `dead_lettered_at` set. incidents.ingest.services
sets it in the transaction that records the last failed attempt (processed_at
stays empty: the event took no effect), and from then on neither processing nor
the sweeper touches it. So every accepted event either takes effect
(processed_at) or is here, where it is:

- listed: the dead-letter page (/incidents/dead-letters/, linked from the
  integrations page) and API (GET /api/v1/dead-letters/, filterable by integration);
- evidence: each integration with dead letters is a failing row of the
  incident-management gate (`gate_evidence`), until none is left;
- notified: the integration's service owner team and the SRE Leads get an e-mail
  (`notify_pending`, run by the beat task notify-dead-letters), a DeadLetterNotice
  delivered through the outbox (opsgov.outbox: a failed send is tried again with
  backoff, then left failed);
- replayable (`replay`, the incidents.replay_rawevent permission, SRE Lead): it
  clears dead_lettered_at and the attempt count, records who replayed it and
  when (on the row and in the audit log) and enqueues its processing once the
  transaction commits. A replay that fails MAX_ATTEMPTS times again returns
  here, and its owners are told again.

A replayed event is applied after later events of its key that went through
meanwhile (their order could not wait for it); that is the point of replaying.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Count, Max, QuerySet
from django.urls import reverse
from django.utils import timezone

from opsgov.errors import DomainError
from opsgov.models import GateStatus, OutboxStatus
from opsgov.outbox import Outbox, OutboxPolicy
from opsgov.registry import Evidence
from opsgov.roles import SRE_LEAD

from ..models import DeadLetterNotice, Integration, RawEvent
from .enqueue import enqueue_process_raw_event

logger = logging.getLogger(__name__)

REPLAY_PERMISSION = "incidents.replay_rawevent"
#: Dead letters listed per integration in one notification e-mail (the rest are counted).
EMAIL_ROWS = 20
#: Integrations whose dead letters one notify_pending run handles.
NOTIFY_BATCH = 50
#: The owners' messages (opsgov.outbox, default numbers), sent by the beat task that writes them.
NOTICES: Outbox[DeadLetterNotice] = Outbox(DeadLetterNotice, OutboxPolicy())


def dead_letters() -> QuerySet[RawEvent]:
    """Every dead-lettered event, newest first, with its integration, service and replayer."""
    return (
        RawEvent.objects.filter(dead_lettered_at__isnull=False)
        .select_related("integration__service", "replayed_by")
        .order_by("-dead_lettered_at", "-id")
    )


def may_replay(user: Any) -> bool:
    return bool(user.has_perm(REPLAY_PERMISSION))


@transaction.atomic
def replay(*, event: RawEvent, actor: Any) -> RawEvent:
    """Take `event` off the dead-letter list and have it processed again; audited. DomainError if it is not on it."""
    locked = RawEvent.objects.select_for_update().get(pk=event.pk)
    if locked.dead_lettered_at is None:
        state = "was processed" if locked.processed_at else "is not dead-lettered (replayed already?)"
        raise DomainError(f"Raw event {locked.uuid} {state}: nothing to replay.")
    now = timezone.now()
    before = locked.dead_lettered_at
    locked.dead_lettered_at = None
    locked.dead_letter_notified_at = None
    locked.attempts = 0
    locked.replay_count += 1
    locked.replayed_at = now
    locked.replayed_by = actor
    locked.save(
        update_fields=[
            "dead_lettered_at",
            "dead_letter_notified_at",
            "attempts",
            "replay_count",
            "replayed_at",
            "replayed_by",
            "updated_at",
        ]
    )
    LogEntry.objects.log_create(
        locked,
        force_log=True,
        action=LogEntry.Action.UPDATE,
        changes={
            "dead_lettered_at": [before.isoformat(), None],
            "replay_count": [locked.replay_count - 1, locked.replay_count],
        },
        actor=actor,
        additional_data={"replayed": True, "raw_event": str(locked.uuid), "last_error": locked.last_error[:500]},
    )
    logger.info("Raw event %s replayed by %s", locked.pk, actor.get_username())
    transaction.on_commit(partial(enqueue_process_raw_event, locked.pk), robust=True)
    return locked


# --- Gate evidence ------------------------------------------------------------------------


@dataclass(frozen=True)
class IntegrationDeadLetters:
    integration: Integration
    count: int
    latest: datetime


def by_integration() -> list[IntegrationDeadLetters]:
    """Integrations with dead letters, the most first: two queries (the counts, the integrations)."""
    counts = list(
        RawEvent.objects.filter(dead_lettered_at__isnull=False)
        .values("integration_id")
        .annotate(count=Count("id"), latest=Max("dead_lettered_at"))
        .order_by("-count", "integration_id")
    )
    integrations = Integration.objects.select_related("service").in_bulk([row["integration_id"] for row in counts])
    return [
        IntegrationDeadLetters(integrations[row["integration_id"]], row["count"], row["latest"])
        for row in counts
        if row["integration_id"] in integrations
    ]


def gate_evidence() -> tuple[list[Evidence], str | None]:
    """Rows for the incident-management gate: one failing row per integration with dead letters (none when
    there is none: nothing to judge), and the problem to state, if any."""
    groups = by_integration()
    url = reverse("dead-letter-list")
    rows = [
        Evidence(
            label=f"{group.integration.name}: {group.count} accepted event(s) dead-lettered",
            status=GateStatus.FAIL,
            detail=f"Processing failed; latest {group.latest:%Y-%m-%d %H:%M} UTC. Replay them once fixed.",
            url=f"{url}?integration={group.integration.uuid}",
            service=group.integration.service.slug,
            key=f"dead_letters:{group.integration.uuid}",
        )
        for group in groups
    ]
    if not rows:
        return [], None
    total = sum(group.count for group in groups)
    return rows, f"{total} accepted alert event(s) dead-lettered (not applied)"


# --- Notifying the owners -----------------------------------------------------------------


def _recipients(integration: Integration) -> list[str]:
    """The service owner team's address and every active SRE Lead's, each once."""
    addresses = [integration.service.owner_team.email] if integration.service.owner_team.email else []
    leads = (
        get_user_model()
        .objects.filter(groups__name=SRE_LEAD, is_active=True)
        .exclude(email="")
        .order_by("pk")
        .values_list("email", flat=True)
        .distinct()
    )
    seen: set[str] = set()
    unique = []
    for address in [*addresses, *leads]:
        if address.lower() not in seen:
            seen.add(address.lower())
            unique.append(address)
    return unique


def _notice(integration: Integration, events: Sequence[RawEvent], recipients: list[str]) -> DeadLetterNotice:
    """The message about `events` (unsaved): what it says is fixed when the dead letters are claimed."""
    base = settings.OPSGOV_BASE_URL.rstrip("/")
    lines = [
        f"{len(events)} accepted alert event(s) of the integration {integration.name} "
        f"(service {integration.service.name}) could not be processed and are dead-lettered:",
        "",
    ]
    for event in events[:EMAIL_ROWS]:
        lines.append(f"- {event.action} {event.dedup_key} received {event.received_at:%Y-%m-%d %H:%M:%S} UTC")
        lines.append(f"  {event.last_error[:300]}")
    if len(events) > EMAIL_ROWS:
        lines.append(f"- and {len(events) - EMAIL_ROWS} more")
    lines += [
        "",
        "They took no effect: no incident was opened or changed for them. Fix the cause, then replay them:",
        f"{base}{reverse('dead-letter-list')}?integration={integration.uuid}",
        "",
        "You get this e-mail as the service's owner team or as an SRE Lead.",
    ]
    return DeadLetterNotice(
        integration=integration,
        events=len(events),
        recipients=recipients,
        subject=f"[opsgov] {len(events)} alert event(s) of {integration.name} dead-lettered",
        body="\n".join(lines),
    )


def _email(notice: DeadLetterNotice) -> EmailMessage:
    return EmailMessage(
        subject=notice.subject,
        body=notice.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(notice.recipients),
        headers={"Auto-Submitted": "auto-generated", "X-Opsgov-Integration": str(notice.integration.uuid)},
    )


def _claim(integration_id: int, now: datetime) -> list[RawEvent]:
    """This integration's dead letters nobody was told about yet, marked told (claimed once, skip-locked)."""
    with transaction.atomic():  # inside the caller's, which also writes the notice
        events = list(
            RawEvent.objects.select_for_update(skip_locked=True)
            .filter(integration_id=integration_id, dead_lettered_at__isnull=False, dead_letter_notified_at__isnull=True)
            .order_by("id")
            .only("id", "uuid", "action", "dedup_key", "received_at", "last_error")
        )
        RawEvent.objects.filter(pk__in=[event.pk for event in events]).update(dead_letter_notified_at=now)
    return events


def notify_pending(*, now: datetime | None = None) -> int:
    """Tell the owners about dead letters not told yet, one message per integration; returns messages sent.

    Each integration's new dead letters are claimed as told (skip-locked, so two runs never take the same
    ones) and its message written in the same transaction; messages then go out through the outbox
    (``NOTICES``): a failed send is tried again 1, 2, 4, 8 minutes later, then left failed for a person.
    """
    now = now or timezone.now()
    integration_ids = list(
        RawEvent.objects.filter(dead_lettered_at__isnull=False, dead_letter_notified_at__isnull=True)
        .values_list("integration_id", flat=True)
        .distinct()
        .order_by("integration_id")[:NOTIFY_BATCH]
    )
    for integration in Integration.objects.select_related("service__owner_team").filter(pk__in=integration_ids):
        _write_notice(integration, now)
    NOTICES.fail_lost(now=now)
    sent = 0
    for notice_id in NOTICES.due(now=now).order_by("pk").values_list("pk", flat=True)[:NOTIFY_BATCH]:
        sent += _deliver(notice_id, now=now)
    return sent


def _write_notice(integration: Integration, now: datetime) -> None:
    with transaction.atomic():
        events = _claim(integration.pk, now)
        if not events:
            return
        recipients = _recipients(integration)
        if not recipients:
            logger.error(
                "%d dead-lettered event(s) of integration %s: nobody to notify (no owner team e-mail, no SRE Lead)",
                len(events),
                integration.uuid,
            )
            return
        notice = _notice(integration, events, recipients)
        notice.next_attempt_at = now
        notice.save()


def _deliver(notice_id: int, *, now: datetime) -> int:
    """One attempt at one message; 1 when it was sent."""
    rows = DeadLetterNotice.objects.select_related("integration")
    return int(NOTICES.send_email(notice_id, _email, now=now, rows=rows) == OutboxStatus.SENT)
