from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents & on-call"

    def ready(self) -> None:
        from opsgov.registry import gates

        from . import gates as app_gates

        gates.register(app_gates.IncidentManagementGate)
        gates.register(app_gates.ContinuousImprovementGate)
