"""factory_boy factories for incidents and integrations.

Incidents are created through `services.incident_create`, so each one starts
with its "triggered" timeline entry like a real one; move them on with the
lifecycle services.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from django.utils import timezone

from incidents import services
from incidents.models import Incident, Integration, IntegrationKind

from ..factories import ServiceFactory


class IncidentFactory(factory.django.DjangoModelFactory[Incident]):
    class Meta:
        model = Incident

    title = factory.Sequence(lambda n: f"Incident {n}")
    service = factory.SubFactory(ServiceFactory)
    severity = "SEV-3"
    summary = ""
    triggered_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    customer_impact = False

    @classmethod
    def _create(cls, model_class: type[Incident], *args: Any, **kwargs: Any) -> Incident:
        return services.incident_create(**kwargs)


class IntegrationFactory(factory.django.DjangoModelFactory[Integration]):
    """An integration with a token nobody knows (use `services.integration_rotate_token` to get one)."""

    class Meta:
        model = Integration

    name = factory.Sequence(lambda n: f"Alertmanager {n}")
    kind = IntegrationKind.ALERTMANAGER
    service = factory.SubFactory(ServiceFactory)

    @classmethod
    def _create(cls, model_class: type[Integration], *args: Any, **kwargs: Any) -> Integration:
        integration, _token = services.integration_create(**kwargs)
        return integration
