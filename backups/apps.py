from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"
    verbose_name = "Backups & DR"

    def ready(self) -> None:
        from opsgov.registry import gates

        from . import gates as app_gates

        gates.register(app_gates.BackupDrGate)
