"""Paging during maintenance: an alert while an approved window of its service is open pages only at the policy's
severities (SEV-1 by default); the timeline says when paging was held back and why.

The window is a real maintenance window (the maintenance app answers opsgov.registry.maintenance.in_window).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from incidents import services
from incidents.models import Notification, TimelineKind
from incidents.oncall import tasks as oncall_tasks
from maintenance import services as maintenance_services
from opsgov.policy import clear_policy_cache
from opsgov.roles import PRODUCT_OWNER

from ..factories import UserFactory
from .test_escalation_support import T0, World, make_world

pytestmark = pytest.mark.django_db

#: T0 (a Wednesday 10:00 UTC) falls in a window Wednesdays 09:00-12:00 UTC; T0 + 1 day does not.
IN_WINDOW = T0
OUTSIDE = T0 + timedelta(days=1)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def approved_wednesday_window(world: World) -> None:
    """An approved weekly window of the world's service, Wednesdays 09:00-12:00 UTC (T0 falls in one)."""
    window = maintenance_services.create_window(
        name="Wednesday morning",
        services=[world.service],
        first_start=T0 - timedelta(days=28, hours=1),
        duration=timedelta(hours=3),
        rrule="FREQ=WEEKLY;BYDAY=WE",
    )
    approver = UserFactory.create(username="po", roles=[PRODUCT_OWNER])
    maintenance_services.approve_window(window=window, user=approver, now=T0 - timedelta(days=30))


@pytest.fixture
def world(clock: time_machine.Traveller) -> World:
    world = make_world()
    approved_wednesday_window(world)
    return world


def held_notes(incident: Any) -> list[dict[str, Any]]:
    return list(incident.timeline.filter(kind=TimelineKind.NOTE, data__paging_held=True).values_list("data", flat=True))


def test_a_sev2_during_maintenance_is_not_paged_and_the_timeline_says_why(world: World) -> None:
    incident = world.incident(severity="SEV-2", at=IN_WINDOW)
    incident.refresh_from_db()
    assert incident.next_escalation_at is None
    assert oncall_tasks.escalate_due_incidents()["steps"] == 0
    assert not Notification.objects.filter(incident=incident).exists()
    assert held_notes(incident) == [{"paging_held": True, "severity": "SEV-2", "pages_during_maintenance": ["SEV-1"]}]
    note = incident.timeline.get(data__paging_held=True)
    assert "maintenance window" in note.message
    assert "SEV-1 only" in note.message
    assert incident.timeline.filter(data__during_maintenance=True).exists()


def test_a_sev1_during_maintenance_still_pages(world: World) -> None:
    incident = world.incident(severity="SEV-1", at=IN_WINDOW)
    incident.refresh_from_db()
    assert incident.next_escalation_at == IN_WINDOW
    assert oncall_tasks.escalate_due_incidents()["steps"] == 1
    assert Notification.objects.filter(incident=incident, recipient=world.alice).count() == 1
    assert held_notes(incident) == []


def test_a_sev2_outside_the_window_pages(world: World, clock: time_machine.Traveller) -> None:
    clock.move_to(OUTSIDE)
    incident = world.incident(severity="SEV-2", at=OUTSIDE)
    incident.refresh_from_db()
    assert incident.next_escalation_at == OUTSIDE
    assert held_notes(incident) == []
    assert not incident.timeline.filter(data__during_maintenance=True).exists()


def test_raising_a_held_incident_to_sev1_starts_paging(world: World, clock: time_machine.Traveller) -> None:
    incident = world.incident(severity="SEV-3", at=IN_WINDOW)
    clock.move_to(IN_WINDOW + timedelta(minutes=5))
    services.incident_update(incident=incident, data={"severity": "SEV-1"})
    incident.refresh_from_db()
    assert incident.next_escalation_at == IN_WINDOW
    assert oncall_tasks.escalate_due_incidents()["steps"] == 1
    assert Notification.objects.filter(incident=incident, recipient=world.alice).count() == 1


def test_raising_to_another_held_severity_keeps_paging_held(world: World) -> None:
    incident = world.incident(severity="SEV-4", at=IN_WINDOW)
    services.incident_update(incident=incident, data={"severity": "SEV-3"})
    incident.refresh_from_db()
    assert incident.next_escalation_at is None


def test_the_policy_chooses_the_severities_that_page(world: World, tmp_path: Path, settings: Any) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[maintenance]\npages_during_maintenance = ["SEV-1", "SEV-2"]\n', encoding="utf-8")
    settings.OPSGOV_POLICY = str(path)
    clear_policy_cache()
    paged = world.incident(severity="SEV-2", at=IN_WINDOW, title="paged")
    held = world.incident(severity="SEV-3", at=IN_WINDOW, title="held")
    paged.refresh_from_db()
    held.refresh_from_db()
    assert paged.next_escalation_at == IN_WINDOW
    assert held.next_escalation_at is None
    assert held_notes(held)[0]["pages_during_maintenance"] == ["SEV-1", "SEV-2"]
