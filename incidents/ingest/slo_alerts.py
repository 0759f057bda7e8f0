"""SLO burn-rate alerts: one incident per SLO breach, and a backlog follow-up for ticket-kind alerts.

An SLO's multi-window, multi-burn-rate alerts (policy ``monitoring.burn_rate_alerts``;
by default page-fast, page-slow and ticket) describe ONE condition, the SLO
burning its error budget, seen at different speeds. They reach opsgov on two
paths, and both end here:

- internal: monitoring's engine raises an opsgov.events.ServiceAlert per (SLO,
  alert key), key ``slo:<uuid>:<alert key>``, source ``slo``;
  incidents.ingest.internal_alerts stores it as a RawEvent of the service's internal
  integration with the dedup key ``slo:<uuid>`` (:func:`internal_event`), so the
  events of one SLO are applied in order, whichever alert they are about;
- external: ``manage.py export_prometheus_rules`` writes ``SLOErrorBudgetBurn``
  rules labelled ``slo_uuid``, ``burn_rate_alert`` and ``severity`` (page or
  ticket), which Alertmanager's webhook delivers; the alerts of a webhook that
  carry ``slo_uuid`` are taken out of the group (:func:`apply_alertmanager`) and
  applied per SLO, the others follow the group's path (one incident per groupKey).

Guarantees (:func:`apply_signals`):

- One incident per breach. Page-kind alerts of one SLO share the incident key
  ``slo:<uuid>`` (:func:`breach_key`): the open incident of the service with
  that key, whichever integration opened it, so the internal engine and an
  Alertmanager receiver watching the same SLO also meet in one incident. The
  service's row is locked (SELECT ... FOR UPDATE) before the lookup, so two
  workers cannot both open one.
- Each alert is a SIGNAL timeline event (data: ``fingerprint``, ``status``,
  ``burn_rate_alert``, ``severity`` ...), added when its fingerprint is new to the
  incident or its status changed: a repeated notification adds nothing. The
  fingerprint is Alertmanager's, or ``slo:<uuid>:<alert key>`` for the engine.
- Severity: the incident opens with the most severe of its firing alerts, and
  is raised (a FIELD change plus a NOTE saying which alert joined) when a more
  severe alert joins. It is never lowered automatically when the more severe
  alert clears: the incident keeps the worst the breach reached.
- Resolution: the incident resolves (with the integration's auto_resolve) when
  the last of its firing alerts clears, not when the first one does; until
  then a clearing alert adds a signal only. Its instant: the clearing event's,
  bounded to [last status change, now]. The next firing after that opens a new
  incident (a new breach).
- Ticket-kind alerts (BurnRateAlert.kind == "ticket"; via Alertmanager the
  label ``severity="ticket"``) never page and never open or change an incident.
  A firing ticket alert creates a follow-up in the improvement backlog
  (incidents.models.ActionItem) for the SLO's service, due after the policy's
  ``monitoring.slo_ticket_due`` (5 business days by default), which the owner
  team sees on the backlog and which the continuous-improvement gate counts.
  Idempotent per breach: the item's ``source_key`` is
  ``slo:<uuid>:<alert key>:service-<service id>@<breach start>`` (unique; an SLO
  moved to another service starts a new breach there), the breach start being
  Alertmanager's ``startsAt`` (stable across its repeat notifications) or the
  engine's instant; and while an open follow-up of the same SLO alert exists for
  the same service, a new breach adds none. A clearing ticket alert changes nothing.
- MTBF counts one failure per breach, since a breach is one incident.

Why a backlog item rather than a notification: opsgov's notifications belong to
incidents (incidents.oncall.notifications), and a ticket is work to schedule, not an
interruption: the backlog tracks it to the end, shows it overdue when late and
feeds gate 4.

incidents.ingest.services calls this module from two marked hooks (in
``_apply_pagerduty`` and ``_apply_alertmanager``); it imports nothing from
ingestion, which passes in what it decides (service, per-alert severity).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from opsgov.events import ServiceAlert
from opsgov.models import Service
from opsgov.policy import get_policy
from opsgov.sla import due_at, policy_calendar

from .. import services as lifecycle
from ..models import (
    ACTION_OPEN_STATUSES,
    OPEN_STATUSES,
    ActionItem,
    ActionPriority,
    Incident,
    Integration,
    RawEvent,
    TimelineEvent,
    TimelineKind,
)
from .schemas import AlertmanagerAlert, AlertmanagerWebhook
from .selectors import signal_statuses

#: The label of an exported burn-rate rule that names its SLO (monitoring.slos.prometheus_rules).
SLO_LABEL = "slo_uuid"
#: The label naming the rule's row of the policy's burn-rate table.
ALERT_LABEL = "burn_rate_alert"
#: The kind of burn-rate alert that never pages (BurnRateAlert.kind; the exported rules' severity label).
TICKET = "ticket"
#: The ServiceAlert source monitoring's engine raises burn-rate alerts with, and their key.
INTERNAL_SOURCE = "slo"
_INTERNAL_KEY = re.compile(r"^slo:(?P<slo>[^:]+):(?P<alert>[^:]+)$")
#: The payload member that marks a RawEvent of the internal integration as an SLO burn-rate alert.
PAYLOAD_KEY = "slo_alert"


def breach_key(slo_uuid: str) -> str:
    """The dedup key every burn-rate alert of one SLO shares: ``slo:<uuid>``."""
    return f"slo:{slo_uuid}"


@dataclass(frozen=True)
class BurnRateSignal:
    """One burn-rate alert of one SLO, firing or cleared, as either path delivers it."""

    slo_uuid: str
    #: Identifies the alert within the incident: Alertmanager's fingerprint, or slo:<uuid>:<alert key>.
    fingerprint: str
    #: The policy's alert key (page-fast, page-slow, ticket ...), for messages and the follow-up's key.
    alert: str
    kind: str  # "page" or "ticket"
    firing: bool
    severity: str
    title: str
    detail: str
    #: When the sender says the condition started (firing) or cleared; kept as data, used as the breach's identity.
    started_at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "firing" if self.firing else "resolved"

    @property
    def is_ticket(self) -> bool:
        return self.kind == TICKET


# --- Applying signals ------------------------------------------------------------------


def apply_signals(
    *,
    integration: Integration,
    service: Service,
    event: RawEvent,
    signals: Iterable[BurnRateSignal],
    triggered_at: datetime,
    cleared_at: datetime,
) -> Incident | None:
    """Apply burn-rate signals (of one or more SLOs) of `service`; the caller's transaction.

    `triggered_at` is the instant a new incident opens at; `cleared_at` the
    instant a resolution takes (bounded to [last status change, now]). Returns
    the last incident touched (None when only ticket alerts came, or only
    clearings of alerts no open incident has).
    """
    by_slo: dict[str, list[BurnRateSignal]] = {}
    for signal in signals:
        if signal.is_ticket:
            if signal.firing:
                _follow_up(service=service, signal=signal)
            continue
        by_slo.setdefault(signal.slo_uuid, []).append(signal)
    incident: Incident | None = None
    for slo_uuid, page_signals in by_slo.items():
        incident = (
            _apply_page_signals(
                integration=integration,
                service=service,
                event=event,
                key=breach_key(slo_uuid),
                signals=page_signals,
                triggered_at=triggered_at,
                cleared_at=cleared_at,
            )
            or incident
        )
    return incident


def _open_breach_incident(service: Service, key: str) -> Incident | None:
    """The service's open incident of this breach key (any integration), locked."""
    return (
        Incident.objects.select_for_update()
        .filter(service=service, dedup_key=key, status__in=OPEN_STATUSES)
        .order_by("triggered_at", "id")
        .first()
    )


def _apply_page_signals(
    *,
    integration: Integration,
    service: Service,
    event: RawEvent,
    key: str,
    signals: list[BurnRateSignal],
    triggered_at: datetime,
    cleared_at: datetime,
) -> Incident | None:
    now = timezone.now()
    # Serialises every breach of this service: the lookup below spans integrations, which
    # the (integration, dedup_key) unique constraint alone cannot keep single.
    Service.objects.select_for_update().filter(pk=service.pk).values_list("pk").first()
    incident = _open_breach_incident(service, key)
    firing = [signal for signal in signals if signal.firing]
    if incident is None:
        if not firing:
            return None  # clearings of a breach already resolved (or never seen): nothing to do
        first = firing[0]
        incident = lifecycle.incident_create(
            title=first.title[:255],
            summary=first.detail,
            service=service,
            severity=get_policy().incidents.most_severe(
                (signal.severity for signal in firing), integration.default_severity
            ),
            triggered_at=min(triggered_at, now),
            integration=integration,
            dedup_key=key,
            signal={
                "integration": str(integration.uuid),
                "raw_event": str(event.uuid),
                "dedup_key": key,
                "slo_uuid": first.slo_uuid,
            },
        )
    latest = signal_statuses(incident)
    at = min(max(event.received_at, incident.triggered_at), now)
    rows = []
    joined: list[BurnRateSignal] = []
    for signal in signals:
        if latest.get(signal.fingerprint) == signal.status:
            continue  # a repeat notification
        if not signal.firing and signal.fingerprint not in latest:
            continue  # the clearing of an alert this incident never had
        latest[signal.fingerprint] = signal.status
        if signal.firing:
            joined.append(signal)
        rows.append(
            TimelineEvent(
                incident=incident,
                kind=TimelineKind.SIGNAL,
                at=at,
                message=(f"{signal.alert} {signal.status}" + (f": {signal.detail}" if signal.detail else ""))[:2000],
                data={
                    **signal.data,
                    "fingerprint": signal.fingerprint,
                    "status": signal.status,
                    "burn_rate_alert": signal.alert,
                    "kind": signal.kind,
                    "severity": signal.severity,
                    "slo_uuid": signal.slo_uuid,
                    "raw_event": str(event.uuid),
                },
            )
        )
    TimelineEvent.objects.bulk_create(rows)
    incident = _raise_severity(incident, joined)
    if any(status == "firing" for status in latest.values()):
        return incident
    if not integration.auto_resolve:
        return incident
    last_change = max(t for t in (incident.triggered_at, incident.acknowledged_at, incident.mitigated_at) if t)
    return lifecycle.incident_resolve(
        incident=incident,
        at=min(max(cleared_at, last_change), now),
        message=f"Resolved by {integration.name}: every burn-rate alert of the SLO has cleared",
    )


def _raise_severity(incident: Incident, joined: list[BurnRateSignal]) -> Incident:
    """Raise the incident's severity to the most severe joining alert's, if that is more severe; noted."""
    if not joined:
        return incident
    severities = get_policy().incidents
    order = severities.severity_keys()
    worst = severities.most_severe((signal.severity for signal in joined), incident.severity)
    if (
        worst == incident.severity
        or incident.severity not in order
        or order.index(worst) >= order.index(incident.severity)
    ):
        return incident
    before = incident.severity
    names = ", ".join(sorted({signal.alert for signal in joined if signal.severity == worst}))
    incident = lifecycle.incident_update(incident=incident, data={"severity": worst})
    lifecycle.incident_add_note(
        incident=incident,
        message=f"Severity raised from {before} to {worst}: burn-rate alert {names} ({worst}) joined this breach.",
    )
    return incident


def _follow_up(*, service: Service, signal: BurnRateSignal) -> ActionItem | None:
    """The improvement-backlog item of a ticket alert's breach: created once per breach (module docstring)."""
    prefix = f"slo:{signal.slo_uuid}:{signal.alert}:service-{service.pk}@"
    source_key = f"{prefix}{signal.started_at.isoformat()}"[:255]
    if ActionItem.objects.filter(source_key=source_key).exists():
        return None  # a repeat notification of the same breach
    if ActionItem.objects.filter(source_key__startswith=prefix, status__in=ACTION_OPEN_STATUSES).exists():
        return None  # the SLO's earlier ticket (for this service) is still open: it tracks this breach too
    policy = get_policy()
    due = due_at(timezone.now(), policy.monitoring.slo_ticket_due, calendar=policy_calendar())
    link = signal.data.get("runbook_url") or signal.data.get("slo_url") or ""
    item = ActionItem(
        title=f"SLO ticket: {signal.title}"[:255],
        description="\n\n".join(
            part
            for part in (
                f"The {signal.alert} burn-rate alert of SLO {signal.slo_uuid} ({service.name}) fired at "
                f"{signal.started_at.isoformat()}: the error budget burns faster than the SLO allows, "
                "slowly enough to be handled as planned work rather than a page.",
                signal.detail,
                f"SLO: {link}" if link else "",
            )
            if part
        ),
        due_date=due.astimezone(policy.business_calendar.zone).date(),
        priority=ActionPriority.MEDIUM,
        service=service,
        source_key=source_key,
    )
    item.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            item.save()
    except IntegrityError:
        return None  # another worker recorded the same breach first
    return item


# --- The internal path (monitoring's engine, via opsgov.events) -------------------------------


def internal_event(alert: ServiceAlert) -> tuple[str, str, dict[str, Any]] | None:
    """(dedup key, action, payload) of the RawEvent for an SLO burn-rate ServiceAlert; None for other alerts.

    The dedup key is the SLO's breach key, so all alerts of one SLO are applied
    in order (ingestion orders events per (integration, dedup key)).
    """
    match = _INTERNAL_KEY.match(alert.key)
    if alert.source != INTERNAL_SOURCE or match is None:
        return None
    payload = {
        "event_action": "trigger" if alert.status == "firing" else "resolve",
        "dedup_key": breach_key(match["slo"]),
        PAYLOAD_KEY: {
            "key": alert.key,
            "slo_uuid": match["slo"],
            "alert": match["alert"],
            "kind": str(alert.details.get("kind") or "page"),
            "status": alert.status,
            "severity": alert.severity,
            "title": alert.title,
            "summary": alert.summary,
            "at": alert.at.isoformat(),
            "details": alert.details,
        },
    }
    return breach_key(match["slo"]), str(payload["event_action"]), payload


def is_internal_event(payload: Any) -> bool:
    """Whether a stored RawEvent payload is an SLO burn-rate alert of the internal path (:func:`internal_event`)."""
    return isinstance(payload, dict) and isinstance(payload.get(PAYLOAD_KEY), dict)


def apply_internal(*, integration: Integration, event: RawEvent, service: Service) -> Incident | None:
    """Apply a RawEvent made by :func:`internal_event`. The engine's instant is opsgov's own clock: it is
    the trigger and resolution instant (never in the future)."""
    body = event.payload[PAYLOAD_KEY]
    at = datetime.fromisoformat(str(body["at"]))
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    signal = BurnRateSignal(
        slo_uuid=str(body["slo_uuid"]),
        fingerprint=str(body["key"]),
        alert=str(body["alert"]),
        kind=str(body.get("kind") or "page"),
        firing=body["status"] == "firing",
        severity=str(body["severity"]),
        title=str(body["title"]),
        detail=str(body.get("summary") or ""),
        started_at=at,
        data={"source": INTERNAL_SOURCE, "at": at.isoformat(), "details": details, **_links(details)},
    )
    return apply_signals(
        integration=integration, service=service, event=event, signals=[signal], triggered_at=at, cleared_at=at
    )


def _links(details: Mapping[str, Any]) -> dict[str, str]:
    url = details.get("slo_url")
    return {"slo_url": str(url)} if isinstance(url, str) and url else {}


# --- The Alertmanager path (exported SLOErrorBudgetBurn rules) ------------------------------


def is_burn_rate_alert(alert: AlertmanagerAlert) -> bool:
    """An alert of an exported SLO burn-rate rule: it carries the ``slo_uuid`` label."""
    return bool(alert.labels.get(SLO_LABEL, "").strip())


def alertmanager_signal(alert: AlertmanagerAlert, *, severity: str) -> BurnRateSignal:
    """The burn-rate signal of one Alertmanager alert (`severity`: the policy severity ingestion gives it)."""
    labels = alert.labels
    ends_at = alert.ends_at
    return BurnRateSignal(
        slo_uuid=labels[SLO_LABEL].strip(),
        fingerprint=alert.fingerprint,
        alert=labels.get(ALERT_LABEL) or labels.get("alertname", "burn-rate alert"),
        kind=TICKET if labels.get("severity", "").strip().lower() == TICKET else "page",
        firing=alert.status == "firing",
        severity=severity,
        title=alert.annotations.get("summary") or labels.get("alertname", "SLO burn rate"),
        detail=alert.annotations.get("description", ""),
        started_at=alert.startsAt,
        data={
            "labels": labels,
            "annotations": alert.annotations,
            "startsAt": alert.startsAt.isoformat(),
            "endsAt": ends_at.isoformat() if ends_at else None,
            "generatorURL": alert.generatorURL,
            **({"runbook_url": alert.annotations["runbook_url"]} if alert.annotations.get("runbook_url") else {}),
        },
    )


def apply_alertmanager(
    *,
    integration: Integration,
    event: RawEvent,
    webhook: AlertmanagerWebhook,
    severity_of: Callable[[AlertmanagerAlert], str],
    service_of: Callable[[AlertmanagerAlert], Service] | None = None,
) -> tuple[AlertmanagerWebhook | None, Incident | None]:
    """Apply the webhook's burn-rate alerts per SLO; return the rest of the group (None if nothing is left)
    and the last SLO incident touched.

    The rest keeps the group's fields, with status "firing" only if one of its
    own alerts fires. `service_of` routes an alert to its service (default: the
    integration's); incidents open at the event's receipt, resolve at it.
    """
    ours = [alert for alert in webhook.alerts if is_burn_rate_alert(alert)]
    if not ours:
        return webhook, None
    route = service_of or (lambda alert: integration.service)
    by_service: dict[int, tuple[Service, list[BurnRateSignal]]] = {}
    for alert in ours:
        service = route(alert)
        by_service.setdefault(service.pk, (service, []))[1].append(
            alertmanager_signal(alert, severity=severity_of(alert))
        )
    incident: Incident | None = None
    for service, signals in by_service.values():
        incident = (
            apply_signals(
                integration=integration,
                service=service,
                event=event,
                signals=signals,
                triggered_at=event.received_at,
                cleared_at=event.received_at,
            )
            or incident
        )
    rest = [alert for alert in webhook.alerts if not is_burn_rate_alert(alert)]
    if not rest:
        return None, incident
    status = "firing" if any(alert.status == "firing" for alert in rest) else "resolved"
    return webhook.model_copy(update={"alerts": rest, "status": status}), incident
