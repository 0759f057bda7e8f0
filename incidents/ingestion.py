"""Turning stored RawEvents into incidents: the service behind the ingestion tasks.

Guarantees:
- Order per key. `process_raw_event` locks (SELECT ... FOR UPDATE, by id) every
  unprocessed RawEvent of the same (integration, dedup key) up to the given id
  and applies them oldest first, in one transaction. A resolve whose task runs
  before its trigger's therefore applies the trigger first: it cannot be lost.
- Exactly once. An event is applied in the transaction that sets its
  processed_at, under that lock; an event already processed (by this task
  redelivered, by a later event's task, by the sweeper's) is skipped.
- One open incident per key. Deliveries racing to open the same incident meet
  the partial unique constraint `incident_one_open_per_dedup_key`; the loser's
  IntegrityError is caught in a savepoint and the event is applied to the
  incident that won.
- Failures are recorded. A failing event gets attempts + 1 and last_error, and
  later events of its key wait for it (order matters); after MAX_ATTEMPTS it is
  given up (processed_at set, last_error kept) so its key moves on. Transient
  database errors (OperationalError, InterfaceError) roll everything back and
  are raised for the task to retry.
- Nothing is left behind. `claim_stale_raw_events` (the sweeper) returns events
  unprocessed for SWEEP_AFTER, claimed in bounded batches.

Enqueueing (incidents.tasks; DESIGN.md, "Data flow: an alert"):
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

Alertmanager (one incident per open groupKey):
- Firing opens an incident (or joins the open one); each alert is a SIGNAL
  timeline event with its fingerprint, status, labels and startsAt. Only a new
  fingerprint or a changed status adds a signal, so Alertmanager's repeat
  notifications add nothing.
- Severity: per alert, a valid `opsgov_severity` label, else its `severity`
  label mapped through the integration's severity_mapping over
  DEFAULT_SEVERITY_MAPPING; the most severe across the (firing) alerts; else
  the integration's default_severity.
- Title: commonAnnotations.summary, else the alertname (and other group
  labels); triggered_at: the earliest startsAt, never in the future.
- Resolved, with auto_resolve: the incident resolves at the latest endsAt,
  bounded to [last status change, now]. A group firing again after its incident
  was resolved opens a new incident.

PagerDuty Events v2 (kinds pagerduty and generic):
- trigger: opens an incident (triggered_at = payload.timestamp, never in the
  future) or adds a signal to the open one;
- acknowledge: acknowledges a triggered incident, else nothing;
- resolve: resolves the open incident (with auto_resolve; without, it adds a signal).
  acknowledge/resolve for an unknown or closed key change nothing.
  Their instant is when opsgov received them, bounded like the Alertmanager one.
"""

from __future__ import annotations

import functools
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

from opsgov.policy import SOURCE_SEVERITY_MAPPING, get_policy

from . import services
from .ingest.schemas import AlertmanagerAlert, AlertmanagerWebhook, PagerDutyTrigger, parse_pagerduty_event
from .models import (
    OPEN_STATUSES,
    Incident,
    IncidentStatus,
    Integration,
    IntegrationKind,
    RawEvent,
    TimelineEvent,
    TimelineKind,
    hash_token,
)

logger = logging.getLogger(__name__)

#: Source severities understood without configuration (opsgov.policy); an integration's
#: severity_mapping is merged over these (keys compared in lower case).
DEFAULT_SEVERITY_MAPPING = SOURCE_SEVERITY_MAPPING

#: An event unprocessed this long is re-enqueued by the sweeper (and not again before as long again).
SWEEP_AFTER = timedelta(seconds=30)
#: At most this many events are claimed per sweep.
SWEEP_BATCH = 500
#: A failing event is tried this many times, then given up so later events of its key proceed.
MAX_ATTEMPTS = 5

_TRANSIENT = (OperationalError, InterfaceError)


@dataclass(frozen=True)
class ProcessResult:
    """What one process_raw_event call did: events applied, the last incident touched, whether one failed."""

    applied: int = 0
    incident_id: int | None = None
    failed: bool = False


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
            .filter(processed_at__isnull=True, received_at__lt=cutoff, updated_at__lt=cutoff)
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
    head = RawEvent.objects.filter(pk=event_id).values_list("integration_id", "dedup_key", "processed_at").first()
    if head is None or head[2] is not None:
        return ProcessResult()
    integration_id, dedup_key, _ = head
    events = list(
        RawEvent.objects.select_for_update()
        .filter(integration_id=integration_id, dedup_key=dedup_key, processed_at__isnull=True, id__lte=event_id)
        .order_by("id")
    )
    if not events:
        return ProcessResult()  # processed by another worker while we waited for the lock
    integration = Integration.objects.select_related("service").get(pk=integration_id)
    apply = _apply_alertmanager if integration.kind == IntegrationKind.ALERTMANAGER else _apply_pagerduty
    applied = 0
    incident_id: int | None = None
    for event in events:
        try:
            with transaction.atomic():
                incident = apply(integration, event)
        except (SoftTimeLimitExceeded, *_TRANSIENT):
            raise
        except Exception as exc:
            logger.exception("Raw event %s (%s %s) failed", event.pk, event.action, event.dedup_key)
            if not _record_failure(event, exc):
                return ProcessResult(applied, incident_id, failed=True)
            continue
        event.processed_at = timezone.now()
        event.incident = incident
        event.attempts += 1
        event.save(update_fields=["processed_at", "incident", "attempts", "updated_at"])
        applied += 1
        incident_id = incident.pk if incident is not None else incident_id
    return ProcessResult(applied, incident_id)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _record_failure(event: RawEvent, exc: Exception) -> bool:
    """Count a failed attempt; True if the event is given up (marked processed) so its key moves on."""
    event.attempts += 1
    event.last_error = _error_text(exc)
    fields = ["attempts", "last_error", "updated_at"]
    gave_up = event.attempts >= MAX_ATTEMPTS
    if gave_up:
        event.processed_at = timezone.now()
        event.last_error = f"Gave up after {event.attempts} attempts. {event.last_error}"[:2000]
        fields.append("processed_at")
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


def _open_incident(integration: Integration, dedup_key: str) -> Incident | None:
    """The open incident of this key, locked (the partial unique constraint allows at most one)."""
    return (
        Incident.objects.select_for_update()
        .filter(integration=integration, dedup_key=dedup_key, status__in=OPEN_STATUSES)
        .order_by()
        .first()
    )


def _open_or_create(integration: Integration, dedup_key: str, create: Callable[[], Incident]) -> Incident:
    """The open incident of this key, or a new one from `create()`.

    Two workers may both find none and both create: the partial unique
    constraint refuses the second insert, whose savepoint is rolled back, and
    the incident that won is returned instead.
    """
    incident = _open_incident(integration, dedup_key)
    if incident is not None:
        return incident
    try:
        with transaction.atomic():
            return create()
    except IntegrityError:
        incident = _open_incident(integration, dedup_key)
        if incident is None:
            raise
        logger.info("Lost the race to open an incident for %s; joined %s", dedup_key, incident.public_id)
        return incident


def severity_mapping(integration: Integration) -> dict[str, str]:
    """DEFAULT_SEVERITY_MAPPING with the integration's own mapping over it (source keys in lower case)."""
    own = integration.severity_mapping if isinstance(integration.severity_mapping, dict) else {}
    return {**DEFAULT_SEVERITY_MAPPING, **{str(key).lower(): str(value) for key, value in own.items()}}


def _most_severe(candidates: Iterable[str], default: str) -> str:
    """The most severe of `candidates` that the policy defines (SEV-1 before SEV-2), else `default`."""
    order = sorted(get_policy().incidents.severities)
    known = [candidate for candidate in candidates if candidate in order]
    return min(known, key=order.index) if known else default


def _bounded(at: datetime, *, not_before: datetime, now: datetime) -> datetime:
    return min(max(at, not_before), now)


def _last_change(incident: Incident) -> datetime:
    return max(t for t in (incident.triggered_at, incident.acknowledged_at, incident.mitigated_at) if t)


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
    return _most_severe(found, integration.default_severity)


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


def _record_alert_signals(incident: Incident, alerts: Iterable[AlertmanagerAlert], event: RawEvent) -> int:
    """A SIGNAL per alert whose fingerprint is new to the incident or whose status changed; returns how many."""
    latest: dict[str, str] = {}
    for fingerprint, status in (
        TimelineEvent.objects.filter(incident=incident, kind=TimelineKind.SIGNAL)
        .order_by("id")
        .values_list("data__fingerprint", "data__status")
    ):
        if fingerprint:
            latest[str(fingerprint)] = str(status)
    at = _signal_at(incident, event)
    rows = []
    for alert in alerts:
        if latest.get(alert.fingerprint) == alert.status:
            continue
        latest[alert.fingerprint] = alert.status
        name = alert.labels.get("alertname", "alert")
        detail = alert.annotations.get("description") or alert.annotations.get("summary") or ""
        rows.append(
            TimelineEvent(
                incident=incident,
                kind=TimelineKind.SIGNAL,
                at=at,
                message=f"{name} {alert.status}" + (f": {detail}" if detail else ""),
                data={**_alert_signal(alert), "raw_event": str(event.uuid)},
            )
        )
    TimelineEvent.objects.bulk_create(rows)
    return len(rows)


def _apply_alertmanager(integration: Integration, event: RawEvent) -> Incident | None:
    webhook = AlertmanagerWebhook.model_validate(event.payload)
    now = timezone.now()
    if webhook.status == "firing":
        firing = [alert for alert in webhook.alerts if alert.status == "firing"] or webhook.alerts

        def create() -> Incident:
            return services.incident_create(
                title=alertmanager_title(webhook),
                summary=webhook.commonAnnotations.get("description", ""),
                service=integration.service,
                severity=alertmanager_severity(integration, firing),
                triggered_at=min(min(alert.startsAt for alert in firing), now),
                integration=integration,
                dedup_key=event.dedup_key,
                signal={
                    **_source(integration, event),
                    "groupKey": webhook.groupKey,
                    "externalURL": webhook.externalURL,
                },
            )

        incident = _open_or_create(integration, event.dedup_key, create)
        _record_alert_signals(incident, webhook.alerts, event)
        return incident

    open_incident = _open_incident(integration, event.dedup_key)
    if open_incident is None:
        return None  # resolved after a manual resolve, or a repeat: nothing to do
    _record_alert_signals(open_incident, webhook.alerts, event)
    if not integration.auto_resolve:
        return open_incident
    ends = [alert.ends_at for alert in webhook.alerts if alert.ends_at is not None]
    at = _bounded(max(ends) if ends else event.received_at, not_before=_last_change(open_incident), now=now)
    return services.incident_resolve(incident=open_incident, at=at, message=f"Resolved by {integration.name}")


# --- PagerDuty Events v2 ----------------------------------------------------------------


def pagerduty_severity(integration: Integration, trigger: PagerDutyTrigger) -> str:
    """custom_details.opsgov_severity if valid, else payload.severity mapped, else the default."""
    details = trigger.payload.custom_details
    if isinstance(details, dict):
        override = str(details.get("opsgov_severity", "")).strip().upper()
        if override in get_policy().incidents.severities:
            return override
    mapped = severity_mapping(integration).get(trigger.payload.severity)
    return _most_severe([mapped] if mapped else [], integration.default_severity)


def _trigger_signal(trigger: PagerDutyTrigger) -> dict[str, Any]:
    data = trigger.payload.model_dump(mode="json", by_alias=True, exclude_none=True)
    for field in ("client", "client_url", "links", "images"):
        value = getattr(trigger, field)
        if value is not None:
            data[field] = value
    return data


def _apply_pagerduty(integration: Integration, event: RawEvent) -> Incident | None:
    message = parse_pagerduty_event(event.payload)
    now = timezone.now()
    if isinstance(message, PagerDutyTrigger):
        payload = message.payload

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
            return services.incident_create(
                title=payload.summary[:255],
                summary="\n".join(details),
                service=integration.service,
                severity=pagerduty_severity(integration, message),
                triggered_at=min(payload.timestamp or event.received_at, now),
                integration=integration,
                dedup_key=event.dedup_key,
                signal=_source(integration, event),
            )

        target = _open_or_create(integration, event.dedup_key, create)
        TimelineEvent.objects.create(
            incident=target,
            kind=TimelineKind.SIGNAL,
            at=_signal_at(target, event),
            message=f"trigger: {payload.summary}"[:2000],
            data={**_trigger_signal(message), "event_action": "trigger", "raw_event": str(event.uuid)},
        )
        return target

    incident = _open_incident(integration, event.dedup_key)
    if incident is None:
        return None  # unknown or already closed key: accepted, changes nothing
    at = _bounded(event.received_at, not_before=_last_change(incident), now=now)
    if message.event_action == "acknowledge":
        if incident.status != IncidentStatus.TRIGGERED:
            return incident  # already acknowledged (or mitigated): nothing to do
        return services.incident_acknowledge(incident=incident, at=at)
    if not integration.auto_resolve:
        TimelineEvent.objects.create(
            incident=incident,
            kind=TimelineKind.SIGNAL,
            at=_signal_at(incident, event),
            message="resolve received; this integration does not resolve incidents automatically",
            data={"event_action": "resolve", "raw_event": str(event.uuid)},
        )
        return incident
    return services.incident_resolve(incident=incident, at=at, message=f"Resolved by {integration.name}")
