from typing import Any

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import post_migrate


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

        from .api import schema  # noqa: F401  # registers its drf-spectacular extensions
        from .models import GateWaiver, Service, Team
        from .policy import PolicyError, get_policy

        # A bad policy file stops start-up with the field path and reason.
        try:
            get_policy()
        except PolicyError as exc:
            raise ImproperlyConfigured(str(exc)) from exc

        auditlog.register(Team)
        auditlog.register(Service)
        auditlog.register(GateWaiver)
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="opsgov-sync-roles")
