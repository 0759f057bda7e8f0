from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents & on-call"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from opsgov.registry import gates

        from .models import Incident, Integration

        auditlog.register(Incident)
        auditlog.register(Integration, exclude_fields=["token_hash"])

        from . import gates as app_gates

        gates.register(app_gates.IncidentManagementGate)
        gates.register(app_gates.ContinuousImprovementGate)

        from . import metrics as app_metrics

        app_metrics.register()
