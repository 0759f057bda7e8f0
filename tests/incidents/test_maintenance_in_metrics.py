"""Incidents triggered during an approved maintenance window count in MTTA, MTTR, MTBF and the availability
fallback's downtime by default, and are left out when the policy's maintenance.maintenance_alerts_count_in_metrics
is false. Expected figures are worked out by hand below.

Two SEV-2 incidents (a failure severity) with customer impact on the same service:
- A, triggered at T0 inside the Wednesday window: acknowledged after 10 min, resolved after 60 min;
- B, triggered at T0 + 1 day, outside it: acknowledged after 2 min, resolved after 20 min.
Over the 7-day window ending at T0 + 2 days (604,800 s):
- counted: MTTA (600 + 120) / 2 = 360 s; MTTR (3600 + 1200) / 2 = 2400 s;
  MTBF (604800 - 4800) / 2 = 300000 s; downtime 4800 s;
- left out: MTTA 120 s; MTTR 1200 s; MTBF (604800 - 1200) / 1 = 603600 s; downtime 1200 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from incidents import downtime, metrics, services
from incidents.models import Incident
from opsgov.policy import clear_policy_cache

from .test_escalation_support import T0, World, make_world
from .test_paging_during_maintenance import approved_wednesday_window

pytestmark = pytest.mark.django_db

NOW = T0 + timedelta(days=2)


@pytest.fixture
def world() -> Iterator[World]:
    with time_machine.travel(T0 - timedelta(days=30), tick=False) as clock:
        world = make_world()
        approved_wednesday_window(world)
        for triggered, ack, resolve in ((T0, 10, 60), (T0 + timedelta(days=1), 2, 20)):
            clock.move_to(triggered)
            incident = world.incident(at=triggered)
            Incident.objects.filter(pk=incident.pk).update(customer_impact=True)
            incident.refresh_from_db()
            clock.move_to(triggered + timedelta(minutes=ack))
            services.incident_acknowledge(incident=incident, at=triggered + timedelta(minutes=ack))
            clock.move_to(triggered + timedelta(minutes=resolve))
            services.incident_resolve(incident=incident, at=triggered + timedelta(minutes=resolve))
        clock.move_to(NOW)
        yield world


def figures(world: World) -> dict[str, Any]:
    metrics.refresh_rollups()
    scope = f"service:{world.service.slug}"

    def value(compute: Any) -> float | None:
        return next(v.value for v in compute(window="7d", now=NOW) if v.scope == scope)

    return {
        "mtta": value(metrics.compute_mtta),
        "mttr": value(metrics.compute_mttr),
        "mtbf": value(metrics.compute_mtbf),
        "downtime": downtime.customer_impact_seconds(
            service_ids=[world.service.pk], start=NOW - timedelta(days=7), end=NOW
        )[world.service.pk],
    }


def test_only_the_incident_inside_the_window_is_flagged(world: World) -> None:
    flags = dict(Incident.objects.order_by("triggered_at").values_list("triggered_at", "during_maintenance"))
    assert flags == {T0: True, T0 + timedelta(days=1): False}


def test_by_default_incidents_during_maintenance_count(world: World) -> None:
    assert figures(world) == {"mtta": 360.0, "mttr": 2400.0, "mtbf": 300000.0, "downtime": 4800.0}


def test_the_policy_leaves_them_out(world: World, tmp_path: Path, settings: Any) -> None:
    counted = figures(world)  # the rollups are built with both incidents; the policy is read at compute time
    assert counted["mtta"] == 360.0
    path = tmp_path / "policy.toml"
    path.write_text("[maintenance]\nmaintenance_alerts_count_in_metrics = false\n", encoding="utf-8")
    settings.OPSGOV_POLICY = str(path)
    clear_policy_cache()
    try:
        assert figures(world) == {"mtta": 120.0, "mttr": 1200.0, "mtbf": 603600.0, "downtime": 1200.0}
    finally:
        clear_policy_cache()
