"""monitoring answers opsgov.registry.error_budgets from the SLO engine's latest evaluation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitoring.models import SLO, SLOStatus
from opsgov.registry import error_budgets
from tests.factories import ServiceFactory

from .support import make_slo

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def status(slo: SLO, remaining: float | None) -> None:
    SLOStatus.objects.create(slo=slo, evaluated_at=NOW, window_start=NOW, window_end=NOW, budget_remaining=remaining)


def test_a_service_whose_availability_budget_is_spent_is_reported_spent() -> None:
    spent, healthy, without = (ServiceFactory.create(slug=s) for s in ("spent", "healthy", "without"))
    status(make_slo(spent, is_availability=True), -0.2)
    status(make_slo(healthy, is_availability=True), 0.4)
    status(make_slo(without, is_availability=False, name="Latency"), -1.0)  # not an availability SLO
    assert error_budgets.spent(service_ids=[spent.pk, healthy.pk, without.pk], now=NOW) == {
        spent.pk: True,
        healthy.pk: False,
    }
