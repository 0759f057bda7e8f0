from django.apps import AppConfig


class MaintenanceConfig(AppConfig):
    name = "maintenance"
    verbose_name = "Maintenance & patching"

    def ready(self) -> None:
        from opsgov.registry import gates

        from . import gates as app_gates

        gates.register(app_gates.MaintenanceGate)
