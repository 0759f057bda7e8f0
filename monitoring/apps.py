from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring & SLOs"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from opsgov.registry import gates, runbooks

        from . import (
            check_tasks,  # noqa: F401  (registers the synthetic check tasks with Celery)
            dashboard_panels,
            prometheus_metrics,
            report_sections,
        )
        from . import gates as app_gates
        from . import metrics as app_metrics
        from .catalog import runbooks_for_alerts
        from .check_admin import register_audit
        from .models import SLO, AlertRule, RuleFile, Runbook

        gates.register(app_gates.MonitoringGate)
        app_metrics.register()

        # Audited: what governance reads. Freshness and pull bookkeeping move every minute and are not.
        auditlog.register(SLO, exclude_fields=["last_sli_at", "last_pull_at", "last_pull_error", "updated_at"])
        auditlog.register(Runbook, m2m_fields={"services"}, exclude_fields=["updated_at"])
        auditlog.register(RuleFile, exclude_fields=["updated_at", "content"])
        auditlog.register(AlertRule, exclude_fields=["updated_at"])
        register_audit()  # synthetic checks

        dashboard_panels.register()
        report_sections.register()
        prometheus_metrics.register()
        runbooks.provide(runbooks_for_alerts)  # incidents shows a rule's runbook beside its alerts
