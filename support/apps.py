"""support's app configuration: only what opsgov cannot discover (audit trail, evidence, event subscriptions)."""

from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        # Imported here: Django imports apps.py before any app's models are loaded.
        from auditlog.registry import auditlog

        from opsgov.events import subscribe_incident_resolved
        from opsgov.evidence import register_evidence

        from . import models
        from .incident_link import on_incident_resolved

        auditlog.register(models.Ticket, exclude_fields=["updated_at"])
        for governed in (models.Contact, models.Article, models.ArticleCategory, models.NpsCampaign):
            auditlog.register(governed)
        # What the gate and the metrics are computed from: never deleted.
        for evidence in (
            models.Ticket,
            models.TicketMessage,
            models.TicketEvent,
            models.SlaBreach,
            models.CsatSurvey,
            models.InboundMessage,
            models.NpsResponse,
        ):
            register_evidence(evidence)
        # A resolved incident posts a note on the P1 tickets linked to it.
        subscribe_incident_resolved(on_incident_resolved)
