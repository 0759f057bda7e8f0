"""The step-3 gate and the maintenance metrics, against hand-computed values."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User

from maintenance import compliance, metrics, selectors, services
from maintenance.models import ChangeRecord, PatchObligation
from opsgov.models import GateStatus, Service
from opsgov.registry import gates, maintenance
from opsgov.roles import PRODUCT_OWNER
from tests.factories import ServiceFactory

from .support import approved_window, utc

pytestmark = pytest.mark.django_db

END = utc(2026, 3, 31)
CREATED = utc(2026, 1, 1)


def service_created(slug: str, at: datetime = CREATED) -> Service:
    service = ServiceFactory.create(slug=slug)
    Service.objects.filter(pk=service.pk).update(created_at=at)
    service.refresh_from_db()
    return service


def log(service: Service, activity: str, at: datetime, hours: float = 1.5) -> None:
    with time_machine.travel(END, tick=False):
        services.record_log(service=service, activity=activity, performed_at=at, duration=timedelta(hours=hours))


def test_schedule_adherence_counts_periods_done_over_periods_due() -> None:
    service = service_created("db")
    for day in (30, 20, 12):
        log(service, "database_maintenance", utc(2026, 3, day))
    log(service, "os_patches", utc(2026, 3, 15), hours=3)
    log(service, "infrastructure_updates", utc(2026, 2, 1), hours=5)
    # 30 days to 31 March: weekly periods ending 31, 24, 17, 10 and 3 March (5, three with a log);
    # one 30-day period each for dependency (none) and OS patches (15 March); one quarter (1 February);
    # one year (nothing): 5 done of 9 due.
    figures = selectors.schedule_adherence(start=END - timedelta(days=30), end=END)
    assert figures["service:db"] == (5, 9)
    values = {v.scope: v for v in metrics.compute_schedule_adherence(window="30d", now=END)}
    assert values["global"].value == pytest.approx(500 / 9)
    assert values["global"].sample_size == 9


def test_a_duration_outside_the_policy_range_is_flagged() -> None:
    service = service_created("db")
    with time_machine.travel(END, tick=False):
        short = services.record_log(
            service=service,
            activity="database_maintenance",
            performed_at=utc(2026, 3, 30),
            duration=timedelta(minutes=20),
        )
        long = services.record_log(
            service=service,
            activity="database_maintenance",
            performed_at=utc(2026, 3, 29),
            duration=timedelta(hours=3),
        )
    assert (short.duration_flag, long.duration_flag) == ("short", "long")


def test_change_metrics_count_failures_backouts_and_linked_incidents() -> None:
    service = service_created("checkout")

    def change(outcome: str, kind: str = "normal", day: int = 10) -> ChangeRecord:
        record = services.create_change(title="c", services=[service], kind=kind)
        ChangeRecord.objects.filter(pk=record.pk).update(
            actual_start=utc(2026, 3, day), outcome=outcome, state="closed" if outcome else "implement"
        )
        return record

    change("successful")
    change("failed")
    linked = change("successful", day=20)
    change("successful", kind="emergency")
    change("")
    # An incident on the service 1 hour after `linked` started (policy: within 4 hours) links through core.
    assert maintenance.link_incident(
        incident_id=42, service_id=service.pk, triggered_at=utc(2026, 3, 20, 1), label="INC-42", url="/i/42/"
    ) == [{"number": linked.number, "title": "c", "url": linked.get_absolute_url()}]
    assert list(linked.incident_links.values_list("incident_label", flat=True)) == ["INC-42"]
    success = {v.scope: v for v in metrics.CHANGE_SUCCESS.compute(window="30d", now=END)}
    failure = {v.scope: v for v in metrics.CHANGE_FAILURE.compute(window="30d", now=END)}
    share = {v.scope: v for v in metrics.EMERGENCY_SHARE.compute(window="30d", now=END)}
    assert success["global"].value == pytest.approx(50.0)  # 2 of 4 with an outcome
    assert failure["global"].value == pytest.approx(50.0)  # failed + linked
    assert share["global"].value == pytest.approx(20.0)  # 1 of 5
    assert success["service:checkout"].sample_size == 4


def test_an_incident_long_after_a_change_is_not_linked() -> None:
    service = service_created("checkout")
    record = services.create_change(title="c", services=[service])
    ChangeRecord.objects.filter(pk=record.pk).update(actual_start=utc(2026, 3, 20))
    assert (
        maintenance.link_incident(
            incident_id=1, service_id=service.pk, triggered_at=utc(2026, 3, 20, 5), label="INC-1", url="/x/"
        )
        == []
    )
    assert maintenance.in_window(service_id=service.pk, at=utc(2026, 3, 22, 3)) is False
    approved_window(service)
    assert maintenance.in_window(service_id=service.pk, at=utc(2026, 3, 22, 3)) is True  # Sunday 02:00-06:00
    assert maintenance.in_window(service_id=service.pk, at=utc(2026, 3, 22, 7)) is False


def test_the_gate_passes_when_windows_cadences_patches_and_changes_are_in_order(personas: dict[str, User]) -> None:
    service = service_created("checkout")
    approved_window(service)
    for activity, at, hours in (
        ("dependency_updates", utc(2026, 3, 20), 3),
        ("os_patches", utc(2026, 3, 20), 3),
        ("database_maintenance", utc(2026, 3, 28), 1.5),
        ("infrastructure_updates", utc(2026, 2, 20), 5),
        ("major_upgrades", utc(2026, 1, 10), 5),
    ):
        log(service, activity, at, hours)
    result = gates.get("maintenance").evaluate(now=END)
    assert result.status == GateStatus.PASS, result.reason
    keys = {row.key for row in result.evidence}
    assert {"windows:checkout", "cadence:checkout:database_maintenance"} <= keys

    # A critical patch 49 hours old and still open fails the gate.
    PatchObligation.objects.create(
        asset="host:web-1",
        service=service,
        source="apt",
        package="openssl",
        version="3.0.13",
        patch_class="security_critical",
        first_detected_at=END - timedelta(hours=49),
        due_at=END - timedelta(hours=1),
    )
    compliance.rebuild()  # written past maintenance.services: the rollup is rebuilt
    # A change outside the window, without its conflict approval.
    change = services.create_change(
        title="Tuesday", services=[service], planned_start=utc(2026, 3, 24, 10), planned_end=utc(2026, 3, 24, 11)
    )
    with time_machine.travel(END, tick=False):
        result = gates.get("maintenance").evaluate(now=END)
    assert result.status == GateStatus.FAIL
    failing = {row.key for row in result.evidence if row.status == GateStatus.FAIL}
    assert failing == {"critical-patch:host:web-1:openssl", f"change-conflict:{change.number}"}
    at_risk = {row.key for row in result.evidence if row.status == GateStatus.AT_RISK}
    assert at_risk == {"patch-compliance:global", "patch-compliance:checkout"}  # 0 of 1 met in time
    services.approve_change(change=change, reason="conflict", user=personas[PRODUCT_OWNER])
    result = gates.get("maintenance").evaluate(now=END)
    assert f"change-conflict:{change.number}" not in {row.key for row in result.evidence}


def test_the_gate_fails_a_service_without_an_approved_window_and_an_overdue_cadence() -> None:
    service_created("checkout")
    result = gates.get("maintenance").evaluate(now=END)
    assert result.status == GateStatus.FAIL
    failing = {row.key for row in result.evidence if row.status == GateStatus.FAIL}
    assert "windows:checkout" in failing
    # Created 1 January, never logged: weekly database maintenance was due 8 January.
    assert "cadence:checkout:database_maintenance" in failing
    assert "cadence:checkout:major_upgrades" not in failing  # due 1 January 2027
    assert "1 service without an approved window" in result.reason
