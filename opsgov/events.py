"""Domain events that apps publish and other apps subscribe to, without importing each other.

DESIGN.md, "Layout": an app may import `opsgov` but not a sibling app. When
`monitoring` sees an SLO burn its budget or a heartbeat go late, it raises a
ServiceAlert here; `incidents` subscribes (in its AppConfig.ready) and treats
the alert exactly like an ingested one: stored as a raw event of the service's
internal "opsgov monitoring" integration, deduplicated by `key`, and resolved
when a `resolved` alert with the same key arrives.

Contract for publishers:
- Publish state changes, not states: one `firing` when the condition starts and
  one `resolved` when it clears. A repeated `firing` for an open key adds a
  signal to the incident's timeline, nothing more.
- Publish inside the transaction that records the change: subscribers write in
  that transaction too, so the change and its alert commit (or roll back) together.
- `key` identifies the condition for its service, at most 200 characters,
  stable across evaluations (e.g. "slo:<uuid>:page").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

AlertStatus = Literal["firing", "resolved"]


@dataclass(frozen=True)
class ServiceAlert:
    """A condition on one service that someone should act on (firing) or that has cleared (resolved)."""

    service_id: int
    key: str
    status: AlertStatus
    #: A policy severity (SEV-1..SEV-4); used when the alert opens an incident.
    severity: str
    title: str
    #: When the condition started (firing) or cleared (resolved).
    at: datetime
    #: What raised it, for the timeline: "slo", "heartbeat", "http-check", ...
    source: str
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in ("firing", "resolved"):
            raise ValueError(f"status must be 'firing' or 'resolved', not {self.status!r}")
        if not self.key or len(self.key) > 200:
            raise ValueError("key must have 1 to 200 characters")
        if self.at.tzinfo is None:
            raise ValueError("at must be timezone-aware")


AlertHandler = Callable[[ServiceAlert], None]

_alert_handlers: list[AlertHandler] = []


def subscribe_alerts(handler: AlertHandler) -> AlertHandler:
    """Have `handler` called with every ServiceAlert raised (once, however often it is subscribed)."""
    if handler not in _alert_handlers:
        _alert_handlers.append(handler)
    return handler


def raise_alert(alert: ServiceAlert) -> int:
    """Hand `alert` to every subscriber, in the caller's transaction; returns how many handled it.

    A subscriber's exception propagates: the caller's transaction rolls back, so
    a condition is never recorded as alerted when its alert was lost.
    """
    for handler in list(_alert_handlers):
        handler(alert)
    return len(_alert_handlers)


# --- Incident resolved ---------------------------------------------------------------------------------
#
# `incidents` publishes an IncidentResolved when an incident becomes resolved (in the transaction that
# resolves it); `support` subscribes to post a note on the tickets linked to it. `keys` are the
# incident's alert keys (its dedup key: a ServiceAlert key of the incident raised through raise_alert),
# so an app that raised the alert finds its own records again without knowing incident ids.


@dataclass(frozen=True)
class IncidentResolved:
    """An incident of a service was resolved."""

    incident_id: int
    #: The public id people read, e.g. "INC-42".
    public_id: str
    service_id: int | None
    keys: tuple[str, ...]
    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("at must be timezone-aware")


IncidentResolvedHandler = Callable[[IncidentResolved], None]

_resolved_handlers: list[IncidentResolvedHandler] = []


def subscribe_incident_resolved(handler: IncidentResolvedHandler) -> IncidentResolvedHandler:
    """Have `handler` called with every IncidentResolved published (once, however often it is subscribed)."""
    if handler not in _resolved_handlers:
        _resolved_handlers.append(handler)
    return handler


def publish_incident_resolved(event: IncidentResolved) -> int:
    """Hand `event` to every subscriber, in the caller's transaction; returns how many handled it.

    A subscriber's exception propagates (the resolution rolls back), as with raise_alert.
    """
    for handler in list(_resolved_handlers):
        handler(event)
    return len(_resolved_handlers)


# --- Improvement items ------------------------------------------------------------------------
#
# Something found outside a post-incident review that should be fixed and tracked, e.g. an issue a DR
# drill found (backups). `incidents` subscribes and files it as an ActionItem of the improvement
# backlog, once per `key` (a repeated key changes nothing). Publish inside the transaction that
# records the finding, like ServiceAlert.


@dataclass(frozen=True)
class ImprovementItem:
    """An improvement to make on one service (or none), found by `source` ("dr-drill", ...)."""

    key: str
    title: str
    source: str
    at: datetime
    service_id: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.key or len(self.key) > 200:
            raise ValueError("key must have 1 to 200 characters")
        if not self.title.strip():
            raise ValueError("title must not be empty")
        if self.at.tzinfo is None:
            raise ValueError("at must be timezone-aware")


ImprovementHandler = Callable[[ImprovementItem], None]

_improvement_handlers: list[ImprovementHandler] = []


def subscribe_improvement_items(handler: ImprovementHandler) -> ImprovementHandler:
    """Have `handler` called with every ImprovementItem raised (once, however often it is subscribed)."""
    if handler not in _improvement_handlers:
        _improvement_handlers.append(handler)
    return handler


def raise_improvement_item(item: ImprovementItem) -> int:
    """Hand `item` to every subscriber, in the caller's transaction; returns how many handled it."""
    for handler in list(_improvement_handlers):
        handler(item)
    return len(_improvement_handlers)


# --- Security incidents (the security app escalates true-positive security alerts) ----------------
#
# Optional keys of ServiceAlert.details that a subscriber turning alerts into incidents honours
# (additive: alerts without them are unchanged):
#
# - DETAIL_KIND ("opsgov_kind"): "security" marks the incident a security incident (its alert
#   source is "security" too, and its title starts with "Security:").
# - DETAIL_COMMANDER ("opsgov_commander"): the username of who leads the incident (the Security
#   Lead who escalated); set as the new incident's commander when that user is active.

SECURITY_KIND = "security"
DETAIL_KIND = "opsgov_kind"
DETAIL_COMMANDER = "opsgov_commander"


# --- opsgov's own security signals --------------------------------------------------------------
#
# Core publishes what it sees of access control as SecuritySignal (failed logins, lockouts, refused
# API requests, an API token used from a network new to it: opsgov.tokens.networks); the security app
# subscribes (its AppConfig.ready) and turns repeated ones into
# security alerts. Published in the request that saw them; a subscriber must not fail the request
# (handlers that raise are logged and skipped: a failed login must still answer 401).

SecuritySignalKind = Literal["login_failed", "locked_out", "permission_denied", "token_new_network"]


@dataclass(frozen=True)
class SecuritySignal:
    kind: SecuritySignalKind
    #: opsgov's instant.
    at: datetime
    username: str = ""
    remote_addr: str = ""
    details: dict[str, Any] = field(default_factory=dict)


SecuritySignalHandler = Callable[[SecuritySignal], None]

_security_handlers: list[SecuritySignalHandler] = []


def subscribe_security_signals(handler: SecuritySignalHandler) -> SecuritySignalHandler:
    """Have `handler` called with every SecuritySignal published (once, however often it is subscribed)."""
    if handler not in _security_handlers:
        _security_handlers.append(handler)
    return handler


def publish_security_signal(signal: SecuritySignal) -> int:
    """Hand `signal` to every subscriber; returns how many handled it without raising."""
    handled = 0
    for handler in list(_security_handlers):
        try:
            handler(signal)
        except Exception:  # a subscriber never breaks the request that saw the signal
            logging.getLogger(__name__).exception("security signal handler %r failed", handler)
        else:
            handled += 1
    return handled
