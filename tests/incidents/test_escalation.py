"""Escalation and response targets: who is notified while an incident stays unacknowledged, and when.

The beat task is called as a function with time frozen; what is enqueued on
commit is checked with django_capture_on_commit_callbacks and a filesystem
broker of the test's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from incidents import services
from incidents.models import (
    ChannelKind,
    Incident,
    Notification,
    NotificationChannel,
    NotificationStatus,
    TimelineKind,
)
from incidents.oncall import escalation
from incidents.oncall import tasks as oncall_tasks

from ..factories import ServiceFactory, UserFactory
from .test_escalation_support import FRIDAY_1600, T0, World, make_world, one_member_schedule, webhook_channel
from .test_ingest_support import UNREACHABLE_BROKER, Broker, celery_broker

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def world(clock: time_machine.Traveller) -> World:
    return make_world()


def notified(incident: Incident, level: int | None = None) -> list[tuple[str, str, str | None]]:
    """(kind, destination, recipient username) of the incident's notifications, in creation order."""
    rows = Notification.objects.filter(incident=incident).order_by("pk")
    if level is not None:
        rows = rows.filter(level=level)
    return [(n.kind, n.destination, n.recipient.username if n.recipient else None) for n in rows]


def beat() -> dict[str, int]:
    return oncall_tasks.escalate_due_incidents()


def escalation_entries(incident: Incident) -> list[str]:
    return list(
        incident.timeline.filter(kind=TimelineKind.NOTIFICATION, data__has_key="level").values_list(
            "message", flat=True
        )
    )


def test_it_notifies_level_one_at_once_and_level_two_after_its_delay(
    world: World, clock: time_machine.Traveller
) -> None:
    incident = world.incident()
    incident.refresh_from_db()
    assert incident.escalation_policy == world.policy
    assert incident.escalation_level == 0
    assert incident.next_escalation_at == T0
    assert incident.response_due_at == T0 + timedelta(hours=1)

    assert beat()["steps"] == 1
    assert notified(incident) == [("email", world.alice.email, world.alice.username)]
    incident.refresh_from_db()
    assert incident.escalation_level == 1
    assert incident.next_escalation_at == T0 + timedelta(minutes=15)
    assert escalation_entries(incident) == [
        f"Escalation level 1: notifying Alice Adams (email {world.alice.email})",
    ]

    clock.move_to(T0 + timedelta(minutes=14, seconds=59))
    assert beat()["steps"] == 0
    assert len(notified(incident)) == 1

    clock.move_to(T0 + timedelta(minutes=15))
    assert beat()["steps"] == 1
    assert notified(incident, level=2) == [("email", world.bob.email, world.bob.username)]
    incident.refresh_from_db()
    assert incident.escalation_level == 2
    assert incident.next_escalation_at is None  # the last level

    clock.move_to(T0 + timedelta(hours=3))
    assert beat()["steps"] == 0
    assert len(notified(incident)) == 2


def test_every_notification_starts_pending_for_delivery(world: World) -> None:
    incident = world.incident()
    beat()
    notification = Notification.objects.get(incident=incident)
    assert notification.status == NotificationStatus.PENDING
    assert notification.level == 1
    assert notification.attempts == 0
    assert notification.reason == f"Escalation level 1: {incident.public_id} is not acknowledged"


def test_acknowledging_stops_the_escalation_and_meets_the_response_target(
    world: World, clock: time_machine.Traveller
) -> None:
    incident = world.incident()
    beat()
    clock.move_to(T0 + timedelta(minutes=5))
    services.incident_acknowledge(incident=incident, actor=world.alice)
    incident.refresh_from_db()
    assert incident.next_escalation_at is None
    assert incident.response_met is True

    clock.move_to(T0 + timedelta(minutes=30))
    assert beat() == {"steps": 0, "breached": 0, "errors": 0}
    assert notified(incident, level=2) == []


@pytest.mark.parametrize("close", ["resolve", "cancel", "mitigate"])
def test_leaving_triggered_in_any_way_stops_the_escalation(
    world: World, clock: time_machine.Traveller, close: str
) -> None:
    incident = world.incident()
    beat()
    clock.move_to(T0 + timedelta(minutes=5))
    if close == "resolve":
        services.incident_resolve(incident=incident)
    elif close == "cancel":
        services.incident_cancel(incident=incident, reason="A test alert")
    else:
        services.incident_mitigate(incident=incident)
    incident.refresh_from_db()
    assert incident.next_escalation_at is None
    clock.move_to(T0 + timedelta(minutes=20))
    assert beat()["steps"] == 0
    assert notified(incident, level=2) == []


def test_an_unacknowledged_sev2_breaches_its_response_target_after_an_hour_once(
    world: World, clock: time_machine.Traveller
) -> None:
    incident = world.incident()
    clock.move_to(T0 + timedelta(minutes=59, seconds=59))
    assert beat()["breached"] == 0
    clock.move_to(T0 + timedelta(hours=1))
    assert beat()["breached"] == 1
    assert beat()["breached"] == 0
    incident.refresh_from_db()
    assert incident.response_met is False
    breaches = incident.timeline.filter(kind=TimelineKind.FIELD, data__field="response_met")
    assert [(e.at, e.message) for e in breaches] == [
        (T0 + timedelta(hours=1), "SEV-2 response target (1 hour) missed: not acknowledged by 2026-11-18 11:00 UTC")
    ]


def test_acknowledging_after_the_response_target_breaches_it(world: World, clock: time_machine.Traveller) -> None:
    incident = world.incident()
    clock.move_to(T0 + timedelta(minutes=70))
    services.incident_acknowledge(incident=incident)
    incident.refresh_from_db()
    assert incident.response_met is False


def test_a_late_acknowledgement_dated_before_the_target_counts_as_met(
    world: World, clock: time_machine.Traveller
) -> None:
    """An integration may report an acknowledgement late; the response is judged by when it happened."""
    incident = world.incident()
    clock.move_to(T0 + timedelta(minutes=62))
    beat()
    incident.refresh_from_db()
    assert incident.response_met is False
    services.incident_acknowledge(incident=incident, at=T0 + timedelta(minutes=50))
    incident.refresh_from_db()
    assert incident.response_met is True


def test_a_sev4_response_target_is_one_business_day_across_the_weekend() -> None:
    with time_machine.travel(FRIDAY_1600, tick=False) as clock:
        service = ServiceFactory.create(slug="reports")
        met = services.incident_create(title="Slow report", service=service, severity="SEV-4")
        late = services.incident_create(title="Typo", service=service, severity="SEV-4")
        monday_1600 = FRIDAY_1600 + timedelta(days=3)
        assert met.response_due_at == monday_1600  # 1 h on Friday + 7 h on Monday
        assert met.next_escalation_at is None  # no escalation policy for this service

        clock.move_to(FRIDAY_1600 + timedelta(days=1))  # Saturday: 24 real hours, not one business hour more
        assert beat()["breached"] == 0
        clock.move_to(monday_1600 - timedelta(minutes=1))
        services.incident_acknowledge(incident=met)
        assert beat()["breached"] == 0
        clock.move_to(monday_1600 + timedelta(minutes=1))
        assert beat()["breached"] == 1
        services.incident_acknowledge(incident=late)

    met.refresh_from_db()
    late.refresh_from_db()
    assert (met.response_met, late.response_met) == (True, False)


def test_running_the_beat_task_twice_notifies_each_recipient_once(world: World) -> None:
    NotificationChannel.objects.create(kind=ChannelKind.EMAIL, address="alice@pager.example.com", user=world.alice)
    webhook_channel(url="http://127.0.0.1:9/team-hook", team=world.service.owner_team)
    incident = world.incident()
    beat()
    beat()
    assert oncall_tasks.escalate_incident(incident.pk, 0, T0.isoformat()) is None  # the enqueued step, too late
    assert notified(incident) == [
        ("email", world.alice.email, world.alice.username),
        ("email", "alice@pager.example.com", world.alice.username),
        ("webhook", "http://127.0.0.1:9/team-hook", None),
    ]
    assert len(escalation_entries(incident)) == 1


def test_a_step_that_is_no_longer_the_current_follow_up_does_nothing(
    world: World, clock: time_machine.Traveller
) -> None:
    incident = world.incident()
    assert escalation.escalate(incident_id=incident.pk, level=0, scheduled_at=T0 - timedelta(seconds=1)) is None
    assert escalation.escalate(incident_id=incident.pk, level=1, scheduled_at=T0) is None
    step = escalation.escalate(incident_id=incident.pk, level=0, scheduled_at=T0)
    assert step is not None and step.level == 1
    clock.move_to(T0 + timedelta(minutes=20))
    assert escalation.escalate(incident_id=incident.pk, level=0, scheduled_at=T0) is None  # ran already
    assert len(notified(incident)) == 1


def test_the_first_step_is_enqueued_when_the_incident_commits(
    world: World, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    broker = Broker(tmp_path)
    with celery_broker("filesystem://", broker.transport_options), django_capture_on_commit_callbacks(execute=True):
        incident = world.incident()
    published = broker.published()
    assert [(task.name, task.args) for task in published] == [
        ("incidents.notify_tasks.escalate_incident", [incident.pk, 0, T0.isoformat()])
    ]
    # What the worker would run; its notifications are enqueued for delivery in turn.
    with celery_broker("filesystem://", broker.transport_options), django_capture_on_commit_callbacks(execute=True):
        assert oncall_tasks.escalate_incident(*published[0].args) == 1
    delivery = Notification.objects.get(incident=incident)
    assert [(t.name, t.args) for t in broker.published()[1:]] == [
        ("incidents.notify_tasks.deliver_notification", [delivery.pk])
    ]


def test_a_broker_outage_never_breaks_creating_an_incident(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    with celery_broker(UNREACHABLE_BROKER), django_capture_on_commit_callbacks(execute=True):
        incident = world.incident()
    assert Incident.objects.filter(pk=incident.pk).exists()
    assert beat()["steps"] == 1  # the beat task does what the lost enqueue would have done


def test_a_later_level_with_no_delay_follows_at_once(clock: time_machine.Traveller) -> None:
    world = make_world(level2_delay=0)
    incident = world.incident()
    assert beat()["steps"] == 1  # one step per incident and run: level 2 is due at once, in the next run
    incident.refresh_from_db()
    assert incident.next_escalation_at == T0
    assert beat()["steps"] == 1
    assert [n[2] for n in notified(incident)] == [world.alice.username, world.bob.username]


def test_the_named_users_are_notified_when_nobody_is_on_call(clock: time_machine.Traveller) -> None:
    world = make_world()
    nobody = one_member_schedule("future", UserFactory.create(username="carol"), since=T0 + timedelta(days=7))
    level = world.levels[0]
    level.schedule = nobody
    level.save()
    level.users.set([world.bob])
    incident = world.incident()
    beat()
    assert [n[2] for n in notified(incident)] == [world.bob.username]
    assert escalation_entries(incident) == [
        f"Escalation level 1: notifying Bob Brown (email {world.bob.email}) (nobody is on call for Future)"
    ]


def test_the_on_call_person_and_the_named_users_are_notified_once_each(clock: time_machine.Traveller) -> None:
    world = make_world()
    world.levels[0].users.set([world.alice, world.bob])
    incident = world.incident()
    beat()
    assert [n[2] for n in notified(incident)] == [world.alice.username, world.bob.username]


def test_inactive_users_and_disabled_channels_are_skipped(world: World) -> None:
    NotificationChannel.objects.create(
        kind=ChannelKind.EMAIL, address="alice@old.example.com", user=world.alice, enabled=False
    )
    world.levels[0].users.set([UserFactory.create(username="gone", is_active=False)])
    incident = world.incident()
    beat()
    assert notified(incident) == [("email", world.alice.email, world.alice.username)]


def test_a_level_with_nobody_to_notify_is_recorded_and_escalation_goes_on(clock: time_machine.Traveller) -> None:
    world = make_world()
    level = world.levels[0]
    level.schedule = None
    level.save()
    incident = world.incident()
    beat()
    assert escalation_entries(incident) == ["Escalation level 1: nobody to notify"]
    incident.refresh_from_db()
    assert incident.next_escalation_at == T0 + timedelta(minutes=15)


def test_a_service_without_a_policy_has_a_response_target_but_no_escalation(clock: time_machine.Traveller) -> None:
    incident = services.incident_create(title="Disk full", service=ServiceFactory.create(), severity="SEV-1")
    assert incident.escalation_policy is None
    assert incident.next_escalation_at is None
    assert incident.response_due_at == T0 + timedelta(minutes=15)


def test_a_backdated_trigger_escalates_at_once(world: World, clock: time_machine.Traveller) -> None:
    incident = world.incident(at=T0 - timedelta(minutes=30))
    assert incident.next_escalation_at == T0 - timedelta(minutes=30)
    assert beat()["steps"] == 1
    incident.refresh_from_db()
    assert incident.next_escalation_at == T0 + timedelta(minutes=15)  # the next level counts from now
