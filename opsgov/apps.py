"""The core app's configuration: policy check, audit trail, and the discovery of every app's contributions.

Registration by discovery
-------------------------
Apps contribute to core's registries by module name, never by a list kept in
core or in their own ``ready()``: once all models are loaded, :meth:`OpsgovConfig.ready`
imports these modules of every installed app (:data:`DISCOVERED_MODULES`), in
INSTALLED_APPS order, and each registers what it defines when imported:

- ``gates``: ``@gates.register`` on each quality gate class (opsgov.registry);
- ``metrics``: ``metrics.register(DEFINITION)`` for each operational metric;
- ``dashboard_panels``: ``panels.register(PANEL)`` (opsgov.dashboard);
- ``report_sections``: ``report_sections.register(PROVIDER)`` (opsgov.reports.services);
- ``prometheus_metrics``: ``governance.add_source(...)`` / ``add_collector(...)`` (opsgov.prometheus);
- ``evidence_providers``: ``providers.register(PROVIDER)`` (opsgov.evidence_providers), the live
  evidence compliance controls read;
- ``tasks``: its Celery tasks (opsgov.celery_tasks.opsgov_task), so that every
  process, web or worker, knows every task by name.

Gates and panels are shown sorted (seed step, order), so discovery order does not
change them; metrics and /metrics collectors keep registration order, which is
INSTALLED_APPS order and each module's own order. What cannot be discovered this
way (auditlog registration, evidence and retention rules, event subscriptions,
directories an app answers) stays in the app's ``ready()``.

Imports in this module's functions are deliberate: Django imports apps.py before
any app's models are loaded, and calls ``ready()`` once they all are.
"""

from typing import Any

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import post_migrate
from django.utils.module_loading import autodiscover_modules

#: The modules of each installed app that register themselves when imported (module docstring).
DISCOVERED_MODULES = (
    "gates",
    "metrics",
    "dashboard_panels",
    "report_sections",
    "prometheus_metrics",
    "tasks",
    "evidence_providers",
)


def _sync_roles(*, using: str = "default", **kwargs: Any) -> None:
    """Give the role groups their permissions once every app's permissions exist.

    Django creates an app's permissions in that app's own post_migrate signal,
    so when opsgov's fires, apps listed after it have none yet: create them all
    first (idempotent), then sync.
    """
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    from .roles import sync_roles

    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    sync_roles(Group, Permission)


class OpsgovConfig(AppConfig):
    name = "opsgov"
    verbose_name = "opsgov core"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from . import system_checks  # noqa: F401  (registers the checks)
        from .api import schema  # noqa: F401  # registers its drf-spectacular extensions
        from .evidence import register_default_evidence
        from .models import GateWaiver, Service, Team
        from .policy import PolicyError, get_policy
        from .retention import metric_snapshot_rule, register_retention

        # A bad policy file stops start-up with the field path and reason.
        try:
            get_policy()
        except PolicyError as exc:
            raise ImproperlyConfigured(str(exc)) from exc

        auditlog.register(Team)
        auditlog.register(Service)
        auditlog.register(GateWaiver)
        self._audit_access_control()
        register_default_evidence()
        register_retention(metric_snapshot_rule)
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="opsgov-sync-roles")
        autodiscover_modules(*DISCOVERED_MODULES)

    @staticmethod
    def _audit_access_control() -> None:
        """Who may do what, and who came in: users, groups, their memberships and permissions, the
        superuser/staff/active flags, API tokens, logins, logouts, failed logins and lockouts."""
        from auditlog.models import LogEntry
        from auditlog.registry import auditlog
        from axes.signals import user_locked_out
        from django.contrib.auth import get_user_model, user_logged_in, user_logged_out, user_login_failed
        from django.contrib.auth.models import Group
        from django.db.models.signals import post_delete, post_save
        from knox.models import AuthToken

        from . import audit, security_signals

        # The password hash is masked (a change shows, not its value); last_login is the login rows' business.
        auditlog.register(
            get_user_model(),
            exclude_fields=["last_login"],
            mask_fields=["password"],
            mask_callable="opsgov.audit.mask_secret",
            m2m_fields={"groups", "user_permissions"},
        )
        auditlog.register(Group, m2m_fields={"permissions"})
        post_save.connect(audit.on_token_saved, sender=AuthToken, dispatch_uid="opsgov-audit-token-saved")
        post_delete.connect(audit.on_token_deleted, sender=AuthToken, dispatch_uid="opsgov-audit-token-deleted")
        user_logged_in.connect(audit.on_user_logged_in, dispatch_uid="opsgov-audit-login")
        user_logged_out.connect(audit.on_user_logged_out, dispatch_uid="opsgov-audit-logout")
        user_login_failed.connect(audit.on_user_login_failed, dispatch_uid="opsgov-audit-login-failed")
        user_locked_out.connect(audit.on_user_locked_out, dispatch_uid="opsgov-audit-locked-out")
        # The same events feed the security alert queue (opsgov.security_signals -> opsgov.events).
        user_login_failed.connect(security_signals.on_user_login_failed, dispatch_uid="opsgov-signal-login-failed")
        user_locked_out.connect(security_signals.on_user_locked_out, dispatch_uid="opsgov-signal-locked-out")
        post_save.connect(audit.on_log_entry_saved, sender=LogEntry, dispatch_uid="opsgov-audit-seal")
