from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        from opsgov.registry import gates

        from . import gates as app_gates

        gates.register(app_gates.SupportGate)
