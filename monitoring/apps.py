from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring & SLOs"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from opsgov.registry import gates

        from . import gates as app_gates
        from . import metrics as app_metrics
        from . import models

        # Freshness moves with every SLI push; the SLO's definition is what governance audits.
        auditlog.register(models.SLO, exclude_fields=["last_sli_at", "updated_at"])
        gates.register(app_gates.MonitoringGate)
        app_metrics.register()
