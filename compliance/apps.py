from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance & audit"

    def ready(self) -> None:
        from opsgov.registry import gates

        from . import gates as app_gates

        gates.register(app_gates.ComplianceGate)
