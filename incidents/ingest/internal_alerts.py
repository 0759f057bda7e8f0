"""Alerts raised inside opsgov (monitoring's SLO burn rates, late heartbeats, failing checks) become incidents.

incidents subscribes `handle_service_alert` to opsgov.events in its AppConfig.ready.
Each alert takes the path an ingested PagerDuty Events v2 event takes: it is
stored as a RawEvent of the service's internal integration (kind "monitoring",
created on first use, one per service, no usable token) in the caller's
transaction, and processed by the same Celery task once that transaction
commits. So the same guarantees hold: one open incident per key, a repeated
firing adds only a signal, `resolved` resolves the open incident (the
integration auto-resolves unless someone turns that off), and the sweeper
processes what a broker outage left behind.

SLO burn-rate alerts (source "slo", key ``slo:<uuid>:<alert key>``) are stored
under their SLO's breach key ``slo:<uuid>`` instead, in the shape
incidents.ingest.slo_alerts applies: one incident per SLO breach, whichever of its
alerts fire, and no incident at all for ticket-kind alerts (a backlog
follow-up instead).
"""

from __future__ import annotations

import json
import logging
from functools import partial

from django.db import IntegrityError, transaction

from opsgov.events import ServiceAlert
from opsgov.models import Service

from ..models import Integration, IntegrationKind
from . import slo_alerts
from .enqueue import enqueue_process_raw_event
from .services import store_raw_event

logger = logging.getLogger(__name__)

INTERNAL_INTEGRATION_NAME = "opsgov monitoring"


def monitoring_integration(service_id: int) -> Integration:
    """The service's internal integration, created on first use (a partial unique constraint keeps it single)."""
    found = Integration.objects.filter(service_id=service_id, kind=IntegrationKind.MONITORING).first()
    if found is not None:
        return found
    integration = Integration(
        name=INTERNAL_INTEGRATION_NAME,
        kind=IntegrationKind.MONITORING,
        service=Service.objects.get(pk=service_id),
        auto_resolve=True,
    )
    integration.set_new_token()  # required by the model; never shown, and no endpoint accepts this kind
    try:
        with transaction.atomic():
            integration.full_clean()
            integration.save()
    except IntegrityError:
        return Integration.objects.get(service_id=service_id, kind=IntegrationKind.MONITORING)
    return integration


def pagerduty_event(alert: ServiceAlert) -> dict[str, object]:
    """The alert as a PagerDuty Events v2 event, which the ingestion processing applies."""
    if alert.status == "resolved":
        return {"event_action": "resolve", "dedup_key": alert.key}
    return {
        "event_action": "trigger",
        "dedup_key": alert.key,
        "payload": {
            "summary": alert.title[:1024],
            "source": f"opsgov {alert.source}",
            "severity": "critical" if alert.severity == "SEV-1" else "error",
            "timestamp": alert.at.isoformat(),
            "class": alert.source,
            "custom_details": {"opsgov_severity": alert.severity, "summary": alert.summary, **alert.details},
        },
    }


def handle_service_alert(alert: ServiceAlert) -> None:
    """Store the alert as a raw event of the service's internal integration; processed after commit.

    An SLO burn-rate alert is keyed by its SLO (incidents.ingest.slo_alerts.internal_event); any other alert by its key.
    """
    integration = monitoring_integration(alert.service_id)
    if not integration.enabled:
        logger.info(
            "Alert %s for service %s dropped: its %s integration is disabled",
            alert.key,
            alert.service_id,
            INTERNAL_INTEGRATION_NAME,
        )
        return
    burn_rate = slo_alerts.internal_event(alert)
    if burn_rate is not None:
        dedup_key, action, event = burn_rate
    else:
        event = pagerduty_event(alert)
        dedup_key, action = alert.key, str(event["event_action"])
    event_id, _ = store_raw_event(
        integration_id=integration.pk,
        dedup_key=dedup_key,
        action=action,
        payload_json=json.dumps(event, default=str),
    )
    transaction.on_commit(partial(enqueue_process_raw_event, event_id), robust=True)
