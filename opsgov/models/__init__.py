"""Models of the core app, one module per sub-domain; this package re-exports them all.

- ``core``: teams, services, metric snapshots, the worker heartbeat (and TimeStampedModel);
- ``gates``: gate evaluations, waivers, status-change notifications;
- ``reports``: report subscriptions and deliveries;
- ``trends``: the daily trend points of the metrics;
- ``exceptions``: the abstract base of every four-eyes exception (opsgov.exceptions);
- ``outbox``: the abstract base of every delivery row (opsgov.outbox);
- ``audit``: the audit trail's seals;
- ``tokens``: the networks each API token was used from.

Every model of opsgov lives here, also those of its sub-packages (opsgov.gates,
opsgov.reports): Django loads an app's models from ``<app>.models``, and a
``gates/models.py`` re-exported here would have the two modules import each
other. A module of this package imports the module that defines what it needs
(``from .core import Service``), never this ``__init__``; code outside the
package imports from ``opsgov.models``.
"""

from .audit import AuditChainHead, AuditSeal
from .core import (
    MAX_ALIASES,
    Lifecycle,
    MetricSnapshot,
    Service,
    ServiceTier,
    Team,
    TimeStampedModel,
    WorkerHeartbeat,
    validate_aliases,
    validate_links,
)
from .exceptions import FourEyesException, WaiverState, four_eyes_constraints
from .gates import (
    ORGANISATION_WIDE,
    GateEvaluation,
    GateNotification,
    GateNotificationStatus,
    GateStatus,
    GateWaiver,
)
from .outbox import OutboxMessage, OutboxStatus
from .reports import DeliveryStatus, ReportDelivery, ReportKind, ReportSubscription
from .tokens import TokenNetwork
from .trends import MetricTrendPoint

__all__ = [
    "MAX_ALIASES",
    "ORGANISATION_WIDE",
    "AuditChainHead",
    "AuditSeal",
    "DeliveryStatus",
    "FourEyesException",
    "GateEvaluation",
    "GateNotification",
    "GateNotificationStatus",
    "GateStatus",
    "GateWaiver",
    "Lifecycle",
    "MetricSnapshot",
    "MetricTrendPoint",
    "OutboxMessage",
    "OutboxStatus",
    "ReportDelivery",
    "ReportKind",
    "ReportSubscription",
    "Service",
    "ServiceTier",
    "Team",
    "TimeStampedModel",
    "TokenNetwork",
    "WaiverState",
    "WorkerHeartbeat",
    "four_eyes_constraints",
    "validate_aliases",
    "validate_links",
]
