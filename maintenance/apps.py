"""maintenance's app configuration: only what opsgov cannot discover.

opsgov.apps imports this app's gates, metrics and the other discovered
modules. What is left needs the models loaded: the audit trail, the evidence
models, and what maintenance answers for incidents through
opsgov.registry.maintenance (is a window open; link an incident to recent changes), and automation pings (opsgov.pings).
"""

from django.apps import AppConfig


class MaintenanceConfig(AppConfig):
    name = "maintenance"
    verbose_name = "Maintenance & patching"

    def ready(self) -> None:
        # Imported here: Django imports apps.py before any app's models are loaded.
        from auditlog.registry import auditlog

        from opsgov.evidence import register_evidence
        from opsgov.pings import PingReceiver, receivers
        from opsgov.registry import maintenance

        from . import models
        from .services import handle_ping, link_incident, window_open

        receivers.register(
            PingReceiver(key="maintenance", handle=handle_ping, description="maintenance automation (cadences)")
        )
        auditlog.register(models.MaintenanceWindow, m2m_fields={"services"}, exclude_fields=["updated_at"])
        auditlog.register(models.FreezePeriod, m2m_fields={"services"}, exclude_fields=["updated_at"])
        auditlog.register(models.ChangeRecord, m2m_fields={"services"}, exclude_fields=["updated_at"])
        auditlog.register(models.ChangeApproval)
        auditlog.register(models.ChangeIntegration, exclude_fields=["token_hash", "updated_at"])
        auditlog.register(models.MaintenanceLog, exclude_fields=["updated_at"])
        auditlog.register(models.ChangeTemplate, m2m_fields={"services"}, exclude_fields=["updated_at"])
        auditlog.register(models.MaintenanceAutomation, include_fields=["name", "service", "activity", "enabled"])
        auditlog.register(models.Host, include_fields=["name", "service", "timezone", "token_prefix"])
        auditlog.register(models.PatchObligation, include_fields=["exception_until", "exception_reason"])
        # What the gate and the metrics are computed from.
        for evidence in (
            models.ChangeRecord,
            models.ChangeApproval,
            models.MaintenanceLog,
            models.PatchReport,
            models.PatchObligation,
        ):
            register_evidence(evidence)

        maintenance.provide(in_window=window_open, link_incident=link_incident)
