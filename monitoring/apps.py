from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring & SLOs"

    def ready(self) -> None:
        from opsgov.registry import gates

        from . import gates as app_gates

        gates.register(app_gates.MonitoringGate)

        # Alert-rule catalog and runbooks: every change is audited (imports included).
        from auditlog.registry import auditlog

        from .models import AlertRule, RuleFile, Runbook

        auditlog.register(Runbook, m2m_fields={"services"}, exclude_fields=["updated_at"])
        auditlog.register(RuleFile, exclude_fields=["updated_at", "content"])
        auditlog.register(AlertRule, exclude_fields=["updated_at"])

        # Synthetic checks: audit registration, and their tasks (Celery autodiscovers monitoring.tasks only).
        from . import check_tasks  # noqa: F401  (registers the synthetic check tasks with Celery)
        from .check_admin import register_audit

        register_audit()
        from . import dashboard_panels, report_sections

        dashboard_panels.register()
        report_sections.register()
        from . import prometheus_metrics

        prometheus_metrics.register()
