"""incidents' app configuration: only what opsgov cannot discover.

opsgov.apps imports this app's gates, metrics, dashboard_panels,
report_sections, prometheus_metrics and tasks modules, which register
themselves. What is left is wiring that needs the models loaded: the audit
trail, evidence and retention rules, the alert subscription, the directories
incidents answers for other apps, and the web workers' enqueue buffer.
"""

from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents & on-call"

    def ready(self) -> None:
        # Imported here: Django imports apps.py before any app's models are loaded.
        from auditlog.registry import auditlog

        from opsgov import worker_hooks
        from opsgov.events import subscribe_alerts, subscribe_improvement_items
        from opsgov.evidence import register_evidence
        from opsgov.registry import downtime, on_call
        from opsgov.retention import register_retention

        from . import maintenance_links, models
        from .downtime import customer_impact_seconds
        from .improvement_items import handle_improvement_item
        from .ingest import worker_hooks as web_worker
        from .ingest.internal_alerts import handle_service_alert
        from .oncall.selectors import responders
        from .retention import raw_event_rule

        # Escalation bookkeeping changes every few minutes; the timeline records what matters of it.
        auditlog.register(models.Incident, exclude_fields=["next_escalation_at", "escalation_level", "updated_at"])
        auditlog.register(models.Integration, exclude_fields=["token_hash"])
        for governed in (
            models.Schedule,
            models.ScheduleLayer,
            models.ScheduleOverride,
            models.EscalationPolicy,
            models.EscalationLevel,
            models.ServiceEscalation,
            models.PostIncidentReview,
            models.ReviewRevision,  # corrections: started, edited, submitted, approved
            models.ReviewEdit,  # the four-eyes record of who changed a review's text
            models.ActionItem,
        ):
            auditlog.register(governed)
        auditlog.register(models.NotificationChannel, exclude_fields=["secret"])

        # What the gates, metrics and reviews are computed from: never deleted (opsgov.evidence), and
        # processed raw events only after the policy's retention period.
        for evidence in (
            models.Incident,
            models.RawEvent,
            models.TimelineEvent,
            models.AlertSignal,
            models.PostIncidentReview,
            models.ReviewRevision,
            models.ReviewEdit,
            models.ActionItem,
        ):
            register_evidence(evidence)
        register_retention(raw_event_rule)

        # An alert another app raises (an SLO burning its budget, a late heartbeat) is an ingested alert here.
        subscribe_alerts(handle_service_alert)
        # An issue another app found (a DR drill's) is an item of the improvement backlog here.
        subscribe_improvement_items(handle_improvement_item)
        # Who is on call, and a service's customer-impacting downtime, asked by other apps' gates and metrics.
        on_call.provide(responders)
        downtime.provide(customer_impact_seconds)
        # Changes before an incident, and maintenance windows open at its trigger (opsgov.registry.maintenance).
        maintenance_links.connect()

        # Web workers publish the processing of ingested events in batches (incidents.ingest.worker_hooks).
        worker_hooks.on_worker_start(web_worker.start)
        worker_hooks.on_worker_exit(web_worker.stop)
