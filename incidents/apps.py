from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents & on-call"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from opsgov.registry import gates

        from . import models

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

        from opsgov.evidence import register_evidence
        from opsgov.retention import register_retention

        from .retention import raw_event_rule

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

        from . import gates as app_gates

        gates.register(app_gates.IncidentManagementGate)
        gates.register(app_gates.ContinuousImprovementGate)

        from . import metrics as app_metrics

        app_metrics.register()

        from .reviews import metrics as review_metrics

        review_metrics.register()

        from . import dashboard_panels, report_sections

        dashboard_panels.register()
        report_sections.register()
        from . import prometheus_metrics

        prometheus_metrics.register()

        from opsgov.events import subscribe_alerts

        from .ingest.internal_alerts import handle_service_alert

        subscribe_alerts(handle_service_alert)

        from opsgov.registry import downtime, on_call

        from .downtime import customer_impact_seconds
        from .oncall.selectors import responders

        on_call.provide(responders)
        downtime.provide(customer_impact_seconds)
