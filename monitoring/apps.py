"""monitoring's app configuration: only what opsgov cannot discover.

opsgov.apps imports this app's gates, metrics, dashboard_panels,
report_sections, prometheus_metrics and tasks modules (tasks imports the
checks sub-package's), which register themselves. What is left is wiring that needs the
models loaded: the audit trail and the runbook directory monitoring answers.
"""

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring & SLOs"

    def ready(self) -> None:
        # Imported here: Django imports apps.py before any app's models are loaded.
        from auditlog.registry import auditlog

        from opsgov.registry import error_budgets, runbooks

        from .catalog.selectors import runbooks_for_alerts
        from .checks import pings  # noqa: F401  (registers heartbeats as a receiver of opsgov.pings)
        from .checks.admin import register_audit
        from .error_budget import spent_budgets
        from .models import SLO, AlertRule, RuleFile, Runbook

        # Audited: what governance reads. Freshness and pull bookkeeping move every minute and are not.
        auditlog.register(SLO, exclude_fields=["last_sli_at", "last_pull_at", "last_pull_error", "updated_at"])
        auditlog.register(Runbook, m2m_fields={"services"}, exclude_fields=["updated_at"])
        auditlog.register(RuleFile, exclude_fields=["updated_at", "content"])
        auditlog.register(AlertRule, exclude_fields=["updated_at"])
        register_audit()  # synthetic checks

        runbooks.provide(runbooks_for_alerts)  # incidents shows a rule's runbook beside its alerts
        error_budgets.provide(spent_budgets)  # maintenance asks the SRE Lead's approval when a budget is spent
