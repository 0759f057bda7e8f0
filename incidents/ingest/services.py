"""Ingestion's writes: storing accepted events (RawEvents), and turning them into incidents, the service behind
the ingestion tasks (incidents.tasks).

Guarantees:
- Order per key. `process_raw_event` locks (SELECT ... FOR UPDATE, by id) every
  unprocessed RawEvent of the same (integration, dedup key) up to the given id
  and applies them oldest first, in one transaction. A resolve whose task runs
  before its trigger's therefore applies the trigger first: it cannot be lost.
- Exactly once. An event is applied in the transaction that sets its
  processed_at, under that lock; an event already processed (by this task
  redelivered, by a later event's task, by the sweeper's) is skipped.
- One open incident per key and routed service. Deliveries racing to open the same
  incident meet the partial unique constraint `incident_one_open_per_service_key`; the loser's
  IntegrityError is caught in a savepoint and the event is applied to the
  incident that won.
- Failures are recorded, and nothing accepted is dropped silently. A failing
  event gets attempts + 1 and last_error, and later events of its key wait for
  it (order matters); the failure that reaches MAX_ATTEMPTS dead-letters it
  (dead_lettered_at set in the same transaction, processed_at left empty) so
  its key moves on. A dead letter is listed, notified to its owners and fails
  the incident-management gate until someone replays it (incidents.ingest.dead_letters).
  Transient database errors (OperationalError, InterfaceError) roll everything
  back and are raised for the task to retry.
- Nothing is left behind. `claim_stale_raw_events` (the sweeper) returns events
  unprocessed (and not dead-lettered) for SWEEP_AFTER, claimed in bounded batches.

Enqueueing (incidents.ingest.enqueue; DESIGN.md, "Data flow: an alert"):
- The RawEvent is committed before the 202 answer; an on-commit callback that
  never raises has it processed. Publishing one Celery task costs more CPU in
  the web process than the lookup and the insert together (about 0.6 ms
  against 0.3 ms, bench/ingest_bench.py), so gunicorn workers do not publish
  per request (gunicorn.conf.py, INGEST_ENQUEUE=batched, the default): the
  callback appends the id to the process's EnqueueBuffer, and a background
  thread publishes one `process_raw_events` task per ENQUEUE_BATCH (100) ids,
  ENQUEUE_INTERVAL (50 ms) at the latest after the first. Everywhere else
  (runserver, management commands, Celery workers, tests) each event is
  published at once, as `process_raw_event`.
- The trade-off: an accepted id waits in memory for up to 50 ms. A process
  killed in that window (SIGKILL, OOM) or a batch the broker refuses drops
  those ids, but their rows are committed and unprocessed, and the sweeper
  enqueues them once SWEEP_AFTER (30 s) has passed: nothing accepted is lost,
  those events are only processed up to a minute late (SWEEP_AFTER plus beat's
  30 s). A graceful stop (max_requests, reload, shutdown) publishes what the
  buffer holds (gunicorn.conf.py, worker_exit).
- A batch is processed event by event, each in its own transaction, so the
  guarantees above hold as for single events; a retried or redelivered batch
  (acks_late, reject_on_worker_lost) skips the events already processed.

Routing (incidents.ingest.routing), at processing time: each alert goes to the service
its integration's routing label names (slug or alias), else to the
integration's service, with a timeline note; unknown values are counted for the
integration page and API. Internal monitoring integrations do not route.
Grouping and dedupe are per (integration, routed service, key): the partial
unique constraint `incident_one_open_per_service_key`.

Time truth (incidents.ingest.sender_clock): an incident is triggered at the instant
opsgov stored its first event (RawEvent.received_at), acknowledged and resolved
when opsgov stored those events; a sender's timestamp is kept in the timeline
and decides the instant only within the policy's
`incidents.trust_sender_clock_within` (default off), never when it lies after
the receipt. Internal monitoring alerts carry an instant opsgov recorded itself
(a heartbeat's deadline): it is the trigger, never after the receipt. Only
history import sets other past instants.

Alertmanager (one incident per open groupKey and routed service):
- Alerts labelled `slo_uuid` (SLO burn-rate rules) are taken out of the group
  and applied per SLO breach by incidents.ingest.slo_alerts (one marked hook), each
  to its routed service.
- The webhook's alerts are split by routed service; each part is applied on its
  own: firing if one of its alerts fires, else resolved.
- Firing opens the service's incident (or joins the open one). Every alert
  updates its AlertSignal row (one per incident and fingerprint: count, first
  and last seen, last status, labels, the latest data). Only a new fingerprint
  or a changed status adds to the timeline, so Alertmanager's repeat
  notifications add nothing there: up to SIGNAL_ROWS_PER_EVENT such alerts are a
  SIGNAL timeline event each (fingerprint, status, labels, startsAt/endsAt, how
  long before the receipt the alert started); more make one SIGNAL entry for
  the webhook ("N alerts received: M new, K changed status"), so a webhook of
  10,000 alerts adds one timeline entry, not 10,000.
- Severity: per alert, a valid `opsgov_severity` label, else its `severity`
  label mapped through the integration's severity_mapping over
  DEFAULT_SEVERITY_MAPPING; the most severe across the part's firing alerts;
  else the integration's default_severity.
- Title: commonAnnotations.summary, else the alertname (and other group
  labels); triggered_at: the receipt (or the earliest startsAt within the bound).
- Resolved, with auto_resolve: the service's incident resolves at the receipt
  (or the latest endsAt within the bound, if not before the last status
  change), bounded to [last status change, now]. A group firing again after
  its incident was resolved opens a new incident.

PagerDuty Events v2 (kinds pagerduty and generic):
- trigger: routed by payload.component or a custom_details key; opens an
  incident on that service (triggered_at = the receipt, or payload.timestamp
  within the bound) or joins the open one. Its AlertSignal row (per dedup_key)
  counts every trigger; a SIGNAL timeline entry is added for the key's first
  trigger on the incident and whenever its summary changes, not for repeats;
- acknowledge: acknowledges the key's triggered incidents (on every service the
  key was routed to), else nothing;
- resolve: resolves the key's open incidents (with auto_resolve; without, it
  adds a signal). acknowledge/resolve for an unknown or closed key change
  nothing. Their instant is when opsgov received them, bounded like the
  Alertmanager one.
- RawEvent.incident is the last incident the event touched.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F
from django.utils import timezone

from opsgov.models import Service
from opsgov.policy import SOURCE_SEVERITY_MAPPING, get_policy

from .. import services as lifecycle
from ..models import (
    OPEN_STATUSES,
    AlertSignal,
    Incident,
    IncidentStatus,
    Integration,
    IntegrationKind,
    RawEvent,
    SignalKind,
    TimelineEvent,
    TimelineKind,
    hash_token,
)
from . import routing, slo_alerts
from .alert_commander import commander_from
from .schemas import AlertmanagerAlert, AlertmanagerWebhook, PagerDutyTrigger, parse_pagerduty_event
from .selectors import signal_statuses
from .sender_clock import SenderClock, with_note

logger = logging.getLogger(__name__)

#: Source severities understood without configuration (opsgov.policy); an integration's
#: severity_mapping is merged over these (keys compared in lower case).
DEFAULT_SEVERITY_MAPPING = SOURCE_SEVERITY_MAPPING

#: An event unprocessed this long is re-enqueued by the sweeper (and not again before as long again).
SWEEP_AFTER = timedelta(seconds=30)
#: At most this many events are claimed per sweep.
SWEEP_BATCH = 500
#: A failing event is tried this many times, then dead-lettered so later events of its key proceed.
MAX_ATTEMPTS = 5
#: At most this many alerts of one webhook get a timeline entry each; more are summed up in one entry.
SIGNAL_ROWS_PER_EVENT = 10
#: Fingerprints looked up / written per query when a webhook carries many alerts.
SIGNAL_BATCH = 500
#: AlertSignal.fingerprint's length.
SIGNAL_KEY_LENGTH = 255

_TRANSIENT = (OperationalError, InterfaceError)


@dataclass(frozen=True)
class ProcessResult:
    """What one process_raw_event call did: events applied, the last incident touched, whether one failed,
    the events it dead-lettered."""

    applied: int = 0
    incident_id: int | None = None
    failed: bool = False
    dead_lettered: tuple[int, ...] = ()


# --- The ingestion hot path (one indexed query, one insert) ------------------------------


@dataclass(frozen=True)
class _HotPathSQL:
    lookup: str
    insert: str
    insert_for_token: str
    insert_fields: tuple[Any, ...]
    returning: bool
    #: Database values of the fields whose default is a constant, by attname, converted once.
    constants: dict[str, Any]


#: RawEvent fields _insert_params fills itself (the others take their defaults).
_GIVEN = frozenset(
    {"uuid", "received_at", "created_at", "updated_at", "integration_id", "dedup_key", "action", "payload"}
)


@functools.cache
def _hot_path_sql() -> _HotPathSQL:
    """The token lookup and the RawEvent inserts, built once from the models' metadata.

    Plain SQL because these statements run on every ingested request: the
    ORM's per-call query compilation and model instantiation cost more than the
    statements themselves (DESIGN.md, "Targets": ingestion at 0.4x the rate of
    a bare view, bench/ingest_bench.py). The inserts cover every concrete field, so a field added to
    RawEvent later is filled from its default, as the ORM would.

    `insert_for_token` finds the integration and inserts in one statement
    (INSERT ... SELECT ... WHERE token_hash = ...), one round trip instead of two
    on the path every accepted event takes.
    """
    # Only quoted table and column names from the models are formatted in; values are parameters.
    quote = connection.ops.quote_name
    column = {field.name: quote(field.column) for field in Integration._meta.concrete_fields}
    integration_table = quote(Integration._meta.db_table)
    lookup = "SELECT {id}, {kind}, {enabled} FROM {table} WHERE {token_hash} = %s".format(  # noqa: S608
        table=integration_table,
        **{name: column[name] for name in ("id", "kind", "enabled", "token_hash")},
    )
    fields = tuple(field for field in RawEvent._meta.concrete_fields if not field.primary_key)
    columns = ", ".join(quote(field.column) for field in fields)
    values = ", ".join(["%s"] * len(fields))
    insert = f"INSERT INTO {quote(RawEvent._meta.db_table)} ({columns}) VALUES ({values})"  # noqa: S608
    # The integration's id is the one column taken from the SELECT; the kinds are two parameters
    # (an endpoint accepts at most two kinds; a one-kind endpoint passes its kind twice).
    selected = ", ".join(
        f"{integration_table}.{column['id']}" if field.attname == "integration_id" else "%s" for field in fields
    )
    insert_for_token = (
        f"INSERT INTO {quote(RawEvent._meta.db_table)} ({columns}) SELECT {selected} FROM {integration_table} "  # noqa: S608
        f"WHERE {column['token_hash']} = %s AND {column['enabled']} AND {column['kind']} IN (%s, %s)"
    )
    returning = connection.features.can_return_columns_from_insert
    if returning:
        insert += f" RETURNING {quote(RawEvent._meta.pk.column)}"
        insert_for_token += f" RETURNING {quote(RawEvent._meta.pk.column)}"
    constants = {
        field.attname: field.get_db_prep_save(field.get_default(), connection)
        for field in fields
        if field.attname not in _GIVEN and not callable(field.default)
    }
    return _HotPathSQL(
        lookup=lookup,
        insert=insert,
        insert_for_token=insert_for_token,
        insert_fields=fields,
        returning=returning,
        constants=constants,
    )


def integration_for_token(token: str) -> tuple[int, str, bool] | None:
    """(id, kind, enabled) of the integration whose token this is, by its sha256 (one indexed query)."""
    with connection.cursor() as cursor:
        cursor.execute(_hot_path_sql().lookup, [hash_token(token)])
        row = cursor.fetchone()
    return (int(row[0]), str(row[1]), bool(row[2])) if row else None


def _insert_params(
    db: BaseDatabaseWrapper, *, integration_id: int | None, dedup_key: str, action: str, payload_json: str
) -> tuple[list[Any], uuid.UUID]:
    """The insert's parameters in insert_fields order.

    `integration_id` None leaves that column out: insert_for_token takes it from its SELECT.
    Converted for the database once per value: the timestamp is the same for
    received_at, created_at and updated_at, and constant defaults were converted
    once (_hot_path_sql), because per-field conversion was a tenth of the hot path's CPU.
    """
    sql = _hot_path_sql()
    event_uuid = uuid.uuid4()
    # What DateTimeField and UUIDField.get_db_prep_save do with an aware datetime and a UUID.
    db_now = db.ops.adapt_datetimefield_value(timezone.now())
    given: dict[str, Any] = {
        **sql.constants,
        "uuid": event_uuid if db.features.has_native_uuid_field else event_uuid.hex,
        "received_at": db_now,
        "created_at": db_now,
        "updated_at": db_now,
        "dedup_key": dedup_key,
        "action": action,
        "payload": payload_json,  # already JSON text: the column takes it as is
    }
    if integration_id is not None:
        given["integration_id"] = integration_id
    params: list[Any] = []
    for field in sql.insert_fields:
        name = field.attname
        if name in given:
            params.append(given[name])
        elif name != "integration_id":  # a field with a callable default
            params.append(field.get_db_prep_save(field.get_default(), db))
    return params, event_uuid


def _inserted_id(cursor: Any, returning: bool) -> int | None:
    if returning:
        row = cursor.fetchone()
        return int(row[0]) if row else None
    return int(cursor.lastrowid) if cursor.rowcount == 1 else None


def store_raw_event(*, integration_id: int, dedup_key: str, action: str, payload_json: str) -> tuple[int, uuid.UUID]:
    """Store an event exactly as received (`payload_json`: its JSON text); returns the new RawEvent's id and uuid.

    One INSERT, committed on its own unless the caller holds a transaction. The
    caller has validated the payload; processing happens later (process_raw_event).
    """
    sql = _hot_path_sql()
    params, event_uuid = _insert_params(
        connection, integration_id=integration_id, dedup_key=dedup_key, action=action, payload_json=payload_json
    )
    with connection.cursor() as cursor:
        cursor.execute(sql.insert, params)
        event_id = _inserted_id(cursor, sql.returning)
    if event_id is None:  # a plain INSERT ... VALUES inserts its row or raises
        raise RuntimeError("the insert returned no id")
    return event_id, event_uuid


def store_raw_event_for_token(
    *, token: str, kinds: tuple[str, ...], dedup_key: str, action: str, payload_json: str
) -> tuple[int, uuid.UUID] | None:
    """Store an event for the enabled integration of one of `kinds` whose token this is, in one statement.

    Returns the new RawEvent's id and uuid, or None when no such integration
    exists (unknown token, disabled, or another kind): the caller then looks the
    token up (integration_for_token) to say which.
    """
    if not 1 <= len(kinds) <= 2:
        raise ValueError("an endpoint accepts one or two integration kinds")
    sql = _hot_path_sql()
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: each attribute of the `connection` proxy costs a lookup
    params, event_uuid = _insert_params(
        db, integration_id=None, dedup_key=dedup_key, action=action, payload_json=payload_json
    )
    with db.cursor() as cursor:
        cursor.execute(sql.insert_for_token, [*params, hash_token(token), kinds[0], kinds[-1]])
        event_id = _inserted_id(cursor, sql.returning)
    return (event_id, event_uuid) if event_id is not None else None


# --- Entry points -----------------------------------------------------------------------


def process_raw_event(*, event_id: int) -> ProcessResult:
    """Apply RawEvent `event_id` and every earlier unprocessed event of its key, in order, once.

    Returns without doing anything when the event is missing or already
    processed. Transient database errors are recorded on the event (best
    effort) and raised, for the caller to retry.
    """
    try:
        return _process(event_id)
    except _TRANSIENT as exc:
        _record_transient_failure(event_id, exc)
        raise


def claim_stale_raw_events(*, older_than: timedelta = SWEEP_AFTER, limit: int = SWEEP_BATCH) -> list[int]:
    """Claim up to `limit` events unprocessed for `older_than`; returns the ids to enqueue.

    Claiming moves the events' updated_at to now (a conditional UPDATE in one
    transaction, skipping rows a worker holds locked), so the next sweep leaves
    them alone for another `older_than`. Only the newest claimed event of each
    key is returned: processing it applies the earlier ones too.
    """
    now = timezone.now()
    cutoff = now - older_than
    with transaction.atomic():
        rows = list(
            RawEvent.objects.select_for_update(skip_locked=True)
            .filter(
                processed_at__isnull=True, dead_lettered_at__isnull=True, received_at__lt=cutoff, updated_at__lt=cutoff
            )
            .order_by("received_at", "id")
            .values_list("id", "integration_id", "dedup_key")[:limit]
        )
        if rows:
            RawEvent.objects.filter(pk__in=[row[0] for row in rows], processed_at__isnull=True).update(updated_at=now)
    newest: dict[tuple[int, str], int] = {}
    for event_id, integration_id, dedup_key in rows:
        key = (integration_id, dedup_key)
        newest[key] = max(newest.get(key, 0), event_id)
    return sorted(newest.values())


# --- Processing -------------------------------------------------------------------------


@transaction.atomic
def _process(event_id: int) -> ProcessResult:
    head = (
        RawEvent.objects.filter(pk=event_id)
        .values_list("integration_id", "dedup_key", "processed_at", "dead_lettered_at")
        .first()
    )
    if head is None or head[2] is not None or head[3] is not None:
        return ProcessResult()  # missing, processed, or dead-lettered (only a replay processes it again)
    integration_id, dedup_key, _, _ = head
    events = list(
        RawEvent.objects.select_for_update()
        .filter(
            integration_id=integration_id,
            dedup_key=dedup_key,
            processed_at__isnull=True,
            dead_lettered_at__isnull=True,
            id__lte=event_id,
        )
        .order_by("id")
    )
    if not events:
        return ProcessResult()  # processed by another worker while we waited for the lock
    integration = Integration.objects.select_related("service").get(pk=integration_id)
    apply = _apply_alertmanager if integration.kind == IntegrationKind.ALERTMANAGER else _apply_pagerduty
    applied = 0
    incident_id: int | None = None
    dead: list[int] = []
    for event in events:
        try:
            with transaction.atomic():
                incident = apply(integration, event)
        except (SoftTimeLimitExceeded, *_TRANSIENT):
            raise
        except Exception as exc:
            logger.exception("Raw event %s (%s %s) failed", event.pk, event.action, event.dedup_key)
            if not _record_failure(event, exc):
                return ProcessResult(applied, incident_id, failed=True, dead_lettered=tuple(dead))
            dead.append(event.pk)
            continue
        event.processed_at = timezone.now()
        event.incident = incident
        event.attempts += 1
        event.save(update_fields=["processed_at", "incident", "attempts", "updated_at"])
        applied += 1
        incident_id = incident.pk if incident is not None else incident_id
    return ProcessResult(applied, incident_id, failed=bool(dead), dead_lettered=tuple(dead))


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _record_failure(event: RawEvent, exc: Exception) -> bool:
    """Count a failed attempt; True if it was the last one: the event is dead-lettered, so its key moves on.

    In the processing transaction, so a dead letter is never half-recorded; it
    stays unprocessed (processed_at empty: it took no effect).
    """
    event.attempts += 1
    event.last_error = _error_text(exc)
    fields = ["attempts", "last_error", "updated_at"]
    gave_up = event.attempts >= MAX_ATTEMPTS
    if gave_up:
        event.dead_lettered_at = timezone.now()
        event.dead_letter_notified_at = None
        event.last_error = f"Dead-lettered after {event.attempts} attempts. {event.last_error}"[:2000]
        fields += ["dead_lettered_at", "dead_letter_notified_at"]
        logger.error(
            "Raw event %s (%s %s) dead-lettered after %d attempts; replay it from the dead letters",
            event.pk,
            event.action,
            event.dedup_key,
            event.attempts,
        )
    event.save(update_fields=fields)
    return gave_up


def _record_transient_failure(event_id: int, exc: BaseException) -> None:
    """Best effort: the database may be what failed."""
    try:
        RawEvent.objects.filter(pk=event_id, processed_at__isnull=True).update(
            attempts=F("attempts") + 1, last_error=_error_text(exc), updated_at=timezone.now()
        )
    except DatabaseError:
        logger.warning("Could not record the failure of raw event %s", event_id, exc_info=True)


# --- Shared helpers ---------------------------------------------------------------------


def _open_incident(integration: Integration, service: Service, dedup_key: str) -> Incident | None:
    """The open incident of this key on this (routed) service, locked (the partial unique constraint allows one)."""
    return (
        Incident.objects.select_for_update()
        .filter(integration=integration, service=service, dedup_key=dedup_key, status__in=OPEN_STATUSES)
        .order_by()
        .first()
    )


def _open_incidents(integration: Integration, dedup_key: str) -> list[Incident]:
    """The open incidents of this key on every service it was routed to, locked, oldest first."""
    return list(
        Incident.objects.select_for_update()
        .filter(integration=integration, dedup_key=dedup_key, status__in=OPEN_STATUSES)
        .order_by("id")
    )


def _open_or_create(
    integration: Integration, service: Service, dedup_key: str, create: Callable[[], Incident]
) -> Incident:
    """The open incident of this key on this service, or a new one from `create()`.

    Two workers may both find none and both create: the partial unique
    constraint refuses the second insert, whose savepoint is rolled back, and
    the incident that won is returned instead.
    """
    incident = _open_incident(integration, service, dedup_key)
    if incident is not None:
        return incident
    try:
        with transaction.atomic():
            return create()
    except IntegrityError:
        incident = _open_incident(integration, service, dedup_key)
        if incident is None:
            raise
        logger.info("Lost the race to open an incident for %s; joined %s", dedup_key, incident.public_id)
        return incident


def severity_mapping(integration: Integration) -> dict[str, str]:
    """DEFAULT_SEVERITY_MAPPING with the integration's own mapping over it (source keys in lower case)."""
    own = integration.severity_mapping if isinstance(integration.severity_mapping, dict) else {}
    return {**DEFAULT_SEVERITY_MAPPING, **{str(key).lower(): str(value) for key, value in own.items()}}


def _bounded(at: datetime, *, not_before: datetime, now: datetime) -> datetime:
    return min(max(at, not_before), now)


def _last_change(incident: Incident) -> datetime:
    return max(t for t in (incident.triggered_at, incident.acknowledged_at, incident.mitigated_at) if t)


def _resolve_instant(incident: Incident, clock: SenderClock, *, now: datetime) -> datetime:
    """The received instant, or the sender's end within the trusted bound if that is not before the last change."""
    last_change = _last_change(incident)
    at = clock.instant if clock.instant >= last_change else clock.received_at
    return _bounded(at, not_before=last_change, now=now)


def _signal_at(incident: Incident, event: RawEvent) -> datetime:
    return _bounded(event.received_at, not_before=incident.triggered_at, now=timezone.now())


def _source(integration: Integration, event: RawEvent) -> dict[str, Any]:
    return {"integration": str(integration.uuid), "raw_event": str(event.uuid), "dedup_key": event.dedup_key}


# --- Alertmanager -----------------------------------------------------------------------


def alertmanager_severity(integration: Integration, alerts: Iterable[AlertmanagerAlert]) -> str:
    """Per alert: a valid opsgov_severity label, else the mapped severity label; the most severe wins."""
    defined = get_policy().incidents.severities
    mapping = severity_mapping(integration)
    found: list[str] = []
    for alert in alerts:
        override = alert.labels.get("opsgov_severity", "").strip().upper()
        if override in defined:
            found.append(override)
            continue
        mapped = mapping.get(alert.labels.get("severity", "").strip().lower())
        if mapped is not None:
            found.append(mapped)
    return get_policy().incidents.most_severe(found, integration.default_severity)


def alertmanager_title(webhook: AlertmanagerWebhook) -> str:
    summary = webhook.commonAnnotations.get("summary", "").strip()
    if summary:
        return summary[:255]
    alertname = webhook.groupLabels.get("alertname") or webhook.commonLabels.get("alertname")
    others = ", ".join(f"{key}={value}" for key, value in sorted(webhook.groupLabels.items()) if key != "alertname")
    if alertname:
        title = f"{alertname} ({others})" if others else alertname
    else:
        title = others or f"Alerts for {webhook.receiver or 'Alertmanager'}"
    return title[:255]


def _alert_signal(alert: AlertmanagerAlert) -> dict[str, Any]:
    ends_at = alert.ends_at
    return {
        "fingerprint": alert.fingerprint,
        "status": alert.status,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": alert.startsAt.isoformat(),
        "endsAt": ends_at.isoformat() if ends_at else None,
        "generatorURL": alert.generatorURL,
    }


def _alert_clock(alert: AlertmanagerAlert, event: RawEvent) -> SenderClock:
    """startsAt for a firing alert, endsAt for a resolved one, beside the receipt of its notification."""
    sender_at = alert.startsAt if alert.status == "firing" else alert.ends_at
    return SenderClock.of(received_at=event.received_at, sender_at=sender_at)


def signal_key(fingerprint: str) -> str:
    """The AlertSignal key of a fingerprint: itself (Alertmanager's are 16 hex digits), or for one longer than
    the column (any sender may send anything) "sha256:" and its digest, so it is still counted, apart."""
    if len(fingerprint) <= SIGNAL_KEY_LENGTH:
        return fingerprint
    return "sha256:" + hashlib.sha256(fingerprint.encode()).hexdigest()


def _known_signals(incident: Incident, kind: str, fingerprints: list[str]) -> dict[str, AlertSignal]:
    """The incident's AlertSignal rows of these fingerprints, by fingerprint (one query per SIGNAL_BATCH)."""
    known: dict[str, AlertSignal] = {}
    for start in range(0, len(fingerprints), SIGNAL_BATCH):
        chunk = fingerprints[start : start + SIGNAL_BATCH]
        for row in AlertSignal.objects.filter(incident=incident, kind=kind, fingerprint__in=chunk):
            known[row.fingerprint] = row
    return known


def _legacy_statuses(incident: Incident, known: dict[str, AlertSignal]) -> dict[str, str]:
    """For an incident that has SIGNAL timeline entries but no AlertSignal rows yet (written before they
    existed): the latest status per fingerprint from its timeline, so its repeats still add nothing."""
    if known or AlertSignal.objects.filter(incident=incident, kind=SignalKind.ALERTMANAGER).exists():
        return {}
    return signal_statuses(incident)


def _record_alert_signals(incident: Incident, alerts: Iterable[AlertmanagerAlert], event: RawEvent) -> int:
    """Count every alert on its AlertSignal row; add timeline entries for the new fingerprints and status changes.

    Up to SIGNAL_ROWS_PER_EVENT changes are an entry each, more are one entry for
    the webhook. Runs in the processing transaction under the incident's row lock
    (taken by _open_or_create / _open_incident), so two webhooks of one incident
    never update the same rows at once; the unique constraint
    alert_signal_per_fingerprint backs that up. Returns the timeline entries added.
    """
    at = _signal_at(incident, event)
    latest: dict[str, AlertmanagerAlert] = {}
    received: dict[str, int] = {}
    for alert in alerts:  # a webhook names a fingerprint once; a repeat within it counts, the last one wins
        key = signal_key(alert.fingerprint)
        latest[key] = alert
        received[key] = received.get(key, 0) + 1
    known = _known_signals(incident, SignalKind.ALERTMANAGER, list(latest))
    legacy = _legacy_statuses(incident, known)
    now = timezone.now()
    rows: list[AlertSignal] = []
    changes: list[AlertmanagerAlert] = []
    new_fingerprints = 0
    for fingerprint, alert in latest.items():
        row = known.get(fingerprint)
        before = row.last_status if row is not None else legacy.get(fingerprint)
        if before != alert.status:
            changes.append(alert)
            new_fingerprints += row is None and fingerprint not in legacy
        rows.append(
            AlertSignal(
                incident=incident,
                kind=SignalKind.ALERTMANAGER,
                fingerprint=fingerprint,
                name=alert.labels.get("alertname", "")[:255],
                count=received[fingerprint] + (row.count if row is not None else 0),
                first_seen=row.first_seen if row is not None else at,
                last_seen=max(row.last_seen, at) if row is not None else at,
                last_status=alert.status,
                labels=alert.labels,
                data={
                    **_alert_signal(alert),
                    "raw_event": str(event.uuid),
                    "received_at": event.received_at.isoformat(),
                },
                updated_at=now,
            )
        )
    # One upsert a batch (INSERT ... ON CONFLICT DO UPDATE with the values computed above; first_seen and
    # created_at are kept). Safe to compute from the rows read: the caller holds the incident's row lock.
    AlertSignal.objects.bulk_create(
        rows,
        batch_size=SIGNAL_BATCH,
        update_conflicts=True,
        unique_fields=["incident", "kind", "fingerprint"],
        update_fields=["name", "count", "last_seen", "last_status", "labels", "data", "updated_at"],
    )
    if len(changes) > SIGNAL_ROWS_PER_EVENT:
        TimelineEvent.objects.create(
            incident=incident,
            kind=TimelineKind.SIGNAL,
            at=at,
            **_signals_summary(alerts=sum(received.values()), new=new_fingerprints, changes=changes, event=event),
        )
        return 1
    entries = []
    for alert in changes:
        name = alert.labels.get("alertname", "alert")
        detail = alert.annotations.get("description") or alert.annotations.get("summary") or ""
        clock = _alert_clock(alert, event)
        what = "the alert started" if alert.status == "firing" else "the alert ended"
        entries.append(
            TimelineEvent(
                incident=incident,
                kind=TimelineKind.SIGNAL,
                at=at,
                message=with_note(f"{name} {alert.status}" + (f": {detail}" if detail else ""), clock, what),
                data={**_alert_signal(alert), "raw_event": str(event.uuid), "received_at": clock.data()["received_at"]},
            )
        )
    TimelineEvent.objects.bulk_create(entries)
    return len(entries)


def _signals_summary(*, alerts: int, new: int, changes: list[AlertmanagerAlert], event: RawEvent) -> dict[str, Any]:
    """The one timeline entry of a webhook with more than SIGNAL_ROWS_PER_EVENT changes: counts, no alerts."""
    firing = sum(1 for alert in changes if alert.status == "firing")
    names: dict[str, int] = {}
    for alert in changes:
        name = alert.labels.get("alertname", "alert")
        names[name] = names.get(name, 0) + 1
    top = sorted(names.items(), key=lambda item: (-item[1], item[0]))[:5]
    message = (
        f"{alerts} alerts received ({new} new fingerprint{'s' if new != 1 else ''}, "
        f"{len(changes)} new or changed: {firing} firing, {len(changes) - firing} resolved); "
        f"each alert is counted under Signals. Most frequent: " + ", ".join(f"{name} ({count})" for name, count in top)
    )
    return {
        "message": message[:2000],
        "data": {
            "summary": True,
            "alerts": alerts,
            "new_fingerprints": new,
            "changed": len(changes),
            "firing": firing,
            "resolved": len(changes) - firing,
            "alertnames": dict(top),
            "raw_event": str(event.uuid),
            "received_at": event.received_at.isoformat(),
        },
    }


def _apply_alertmanager(integration: Integration, event: RawEvent) -> Incident | None:
    """Apply one webhook: its alerts split by routed service, each part to that service's incident of the group."""
    webhook = AlertmanagerWebhook.model_validate(event.payload)
    router = routing.Router(integration)
    # --- SLO burn-rate hook: alerts labelled slo_uuid are applied per SLO breach (incidents.ingest.slo_alerts),
    # each to its routed service; the rest of the group, if any, goes on below.
    rest, slo_incident = slo_alerts.apply_alertmanager(
        integration=integration,
        event=event,
        webhook=webhook,
        severity_of=lambda alert: alertmanager_severity(integration, [alert]),
        service_of=lambda alert: router.alertmanager(alert).service,
    )
    if rest is None:
        return slo_incident
    webhook = rest
    # --- end of the SLO burn-rate hook
    parts: dict[int, list[tuple[routing.Route, AlertmanagerAlert]]] = {}
    for alert in webhook.alerts:
        route = router.alertmanager(alert)
        parts.setdefault(route.service.pk, []).append((route, alert))
    touched: Incident | None = slo_incident
    for part in parts.values():
        touched = _apply_alertmanager_part(integration, event, webhook, part) or touched
    routing.count_unknown_values(
        integration, (route for part in parts.values() for route, _ in part), at=event.received_at
    )
    return touched


def _apply_alertmanager_part(
    integration: Integration,
    event: RawEvent,
    webhook: AlertmanagerWebhook,
    part: list[tuple[routing.Route, AlertmanagerAlert]],
) -> Incident | None:
    """The alerts routed to one service: firing if any of them fires, else resolved."""
    now = timezone.now()
    service = part[0][0].service
    routes = [route for route, _ in part]
    alerts = [alert for _, alert in part]
    firing = [alert for alert in alerts if alert.status == "firing"]
    if firing:
        clock = SenderClock.of(received_at=event.received_at, sender_at=min(alert.startsAt for alert in firing))

        def create() -> Incident:
            return lifecycle.incident_create(
                title=alertmanager_title(webhook),
                summary=webhook.commonAnnotations.get("description", ""),
                service=service,
                severity=alertmanager_severity(integration, firing),
                triggered_at=min(clock.instant, now),
                integration=integration,
                dedup_key=event.dedup_key,
                signal={
                    **_source(integration, event),
                    **clock.data(),
                    "groupKey": webhook.groupKey,
                    "externalURL": webhook.externalURL,
                },
            )

        incident = _open_or_create(integration, service, event.dedup_key, create)
        _record_alert_signals(incident, alerts, event)
        routing.note_fallbacks(incident, integration, routes, at=_signal_at(incident, event))
        return incident

    open_incident = _open_incident(integration, service, event.dedup_key)
    if open_incident is None:
        return None  # resolved after a manual resolve, or a repeat: nothing to do
    _record_alert_signals(open_incident, alerts, event)
    if not integration.auto_resolve:
        return open_incident
    ends = [alert.ends_at for alert in alerts if alert.ends_at is not None]
    clock = SenderClock.of(received_at=event.received_at, sender_at=max(ends) if ends else None)
    return lifecycle.incident_resolve(
        incident=open_incident,
        at=_resolve_instant(open_incident, clock, now=now),
        message=with_note(f"Resolved by {integration.name}", clock, "the alert ended"),
    )


# --- PagerDuty Events v2 ----------------------------------------------------------------


def pagerduty_severity(integration: Integration, trigger: PagerDutyTrigger) -> str:
    """custom_details.opsgov_severity if valid, else payload.severity mapped, else the default."""
    details = trigger.payload.custom_details
    if isinstance(details, dict):
        override = str(details.get("opsgov_severity", "")).strip().upper()
        if override in get_policy().incidents.severities:
            return override
    mapped = severity_mapping(integration).get(trigger.payload.severity)
    return get_policy().incidents.most_severe([mapped] if mapped else [], integration.default_severity)


def _trigger_signal(trigger: PagerDutyTrigger) -> dict[str, Any]:
    data = trigger.payload.model_dump(mode="json", by_alias=True, exclude_none=True)
    for field in ("client", "client_url", "links", "images"):
        value = getattr(trigger, field)
        if value is not None:
            data[field] = value
    return data


def _apply_pagerduty(integration: Integration, event: RawEvent) -> Incident | None:
    # --- SLO burn-rate hook: the engine's burn-rate alerts, one incident per SLO breach (incidents.ingest.slo_alerts).
    if slo_alerts.is_internal_event(event.payload):
        return slo_alerts.apply_internal(integration=integration, event=event, service=integration.service)
    # --- end of the SLO burn-rate hook
    message = parse_pagerduty_event(event.payload)
    now = timezone.now()
    if isinstance(message, PagerDutyTrigger):
        payload = message.payload
        own = integration.kind == IntegrationKind.MONITORING  # opsgov's own instant (sender_clock)
        clock = SenderClock.of(received_at=event.received_at, sender_at=payload.timestamp, own=own)
        route = routing.Router(integration).pagerduty(message)

        def create() -> Incident:
            details = [
                f"{label}: {value}"
                for label, value in (
                    ("Source", payload.source),
                    ("Component", payload.component),
                    ("Group", payload.group),
                    ("Class", payload.class_),
                )
                if value
            ]
            return lifecycle.incident_create(
                title=payload.summary[:255],
                summary="\n".join(details),
                service=route.service,
                severity=pagerduty_severity(integration, message),
                triggered_at=min(clock.instant, now),
                integration=integration,
                dedup_key=event.dedup_key,
                signal={**_source(integration, event), **clock.data()},
                # An internal alert may name who leads (opsgov.events.DETAIL_COMMANDER: security escalations).
                commander=commander_from(payload.custom_details) if own else None,
            )

        target = _open_or_create(integration, route.service, event.dedup_key, create)
        data = {
            **_trigger_signal(message),
            "event_action": "trigger",
            "raw_event": str(event.uuid),
            "received_at": event.received_at.isoformat(),
        }
        if _count_trigger(target, event, payload.summary, data):
            TimelineEvent.objects.create(
                incident=target,
                kind=TimelineKind.SIGNAL,
                at=_signal_at(target, event),
                message=with_note(f"trigger: {payload.summary}", clock),
                data=data,
            )
        routing.note_fallbacks(target, integration, [route], at=_signal_at(target, event))
        routing.count_unknown_values(integration, [route], at=event.received_at)
        return target

    # acknowledge and resolve carry no routing label: they apply to the key's open incident on every service.
    touched: Incident | None = None
    for incident in _open_incidents(integration, event.dedup_key):
        touched = _acknowledge_or_resolve(integration, event, incident, message.event_action, now=now)
    return touched  # None: an unknown or already closed key, accepted, changes nothing


def _count_trigger(incident: Incident, event: RawEvent, summary: str, data: dict[str, Any]) -> bool:
    """Count an Events v2 trigger on its AlertSignal row (per dedup_key); True if it belongs on the timeline:
    the key's first trigger on the incident, or a changed summary. The incident's row is locked by the caller."""
    at = _signal_at(incident, event)
    row = (
        AlertSignal.objects.select_for_update()
        .filter(incident=incident, kind=SignalKind.EVENTS_V2, fingerprint=event.dedup_key)
        .first()
    )
    if row is None:
        AlertSignal.objects.create(
            incident=incident,
            kind=SignalKind.EVENTS_V2,
            fingerprint=event.dedup_key,
            name=summary[:255],
            first_seen=at,
            last_seen=at,
            last_status="trigger",
            data=data,
        )
        # An incident from before AlertSignal rows existed has its triggers on the timeline already.
        return not TimelineEvent.objects.filter(
            incident=incident, kind=TimelineKind.SIGNAL, data__summary=summary
        ).exists()
    changed = row.name != summary[:255]
    row.count += 1
    row.last_seen = max(row.last_seen, at)
    row.name = summary[:255]
    row.data = data
    row.save(update_fields=["count", "last_seen", "name", "data", "updated_at"])
    return changed


def _acknowledge_or_resolve(
    integration: Integration, event: RawEvent, incident: Incident, action: str, *, now: datetime
) -> Incident:
    at = _bounded(event.received_at, not_before=_last_change(incident), now=now)
    if action == "acknowledge":
        if incident.status != IncidentStatus.TRIGGERED:
            return incident  # already acknowledged (or mitigated): nothing to do
        return lifecycle.incident_acknowledge(incident=incident, at=at)
    if not integration.auto_resolve:
        TimelineEvent.objects.create(
            incident=incident,
            kind=TimelineKind.SIGNAL,
            at=_signal_at(incident, event),
            message="resolve received; this integration does not resolve incidents automatically",
            data={"event_action": "resolve", "raw_event": str(event.uuid)},
        )
        return incident
    return lifecycle.incident_resolve(incident=incident, at=at, message=f"Resolved by {integration.name}")
