"""The gates of steps 2 and 4, on fixtures: each state, with evidence that links to the record."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User

from incidents import services
from incidents.gates import ContinuousImprovementGate, IncidentManagementGate
from incidents.models import (
    ActionItem,
    ActionStatus,
    EscalationLevel,
    EscalationPolicy,
    Incident,
    PostIncidentReview,
    ServiceEscalation,
)
from incidents.oncall import services as oncall_services
from incidents.reviews import services as reviews
from opsgov.models import GateStatus, Service

from ..factories import ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def person() -> User:
    return UserFactory.create(username="oncall")


def covered_policy(service: Service, person: User, *, office_hours: bool = False) -> EscalationPolicy:
    schedule = oncall_services.schedule_create(slug=f"{service.slug}-rota", name=f"{service.name} rota")
    oncall_services.layer_create(
        schedule=schedule,
        name="Weekly",
        rotation_start=NOW - timedelta(days=30),
        members=[person],
        restrict_weekdays=[0, 1, 2, 3, 4] if office_hours else [],
        restrict_start=time(9) if office_hours else None,
        restrict_end=time(17) if office_hours else None,
    )
    policy = EscalationPolicy.objects.create(slug=f"{service.slug}-policy", name=f"{service.name} policy")
    EscalationLevel.objects.create(policy=policy, position=1, schedule=schedule)
    ServiceEscalation.objects.create(service=service, policy=policy)
    return policy


def incident(service: Service, *, severity: str = "SEV-2", ack_after: timedelta | None, ago: timedelta) -> Incident:
    created = services.incident_create(title="Errors", service=service, severity=severity, triggered_at=NOW - ago)
    if ack_after is not None:
        created = services.incident_acknowledge(incident=created, at=created.triggered_at + ack_after)
    return created


def statuses(result: Any) -> list[tuple[str, str]]:
    return [(row.status, row.url) for row in result.evidence]


# --- Incident management ---------------------------------------------------------------------


def test_no_active_service_is_no_evidence() -> None:
    result = IncidentManagementGate().evaluate(now=NOW)
    assert result.status == GateStatus.NO_EVIDENCE


def test_it_passes_with_a_covered_path_and_responses_on_time(person: User) -> None:
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    covered_policy(service, person)
    incident(service, ack_after=timedelta(minutes=5), ago=timedelta(days=2))
    result = IncidentManagementGate().evaluate(now=NOW)
    assert result.status == GateStatus.PASS, result.reason
    labels = [row.label for row in result.evidence]
    assert labels == [
        "Checkout: Checkout policy, covered for 7 days",
        "Response targets met for 100.0 % of 1 incidents (target 90 %)",
    ]


def test_a_service_without_policy_fails_with_a_link_to_it(person: User) -> None:
    covered_policy(ServiceFactory.create(slug="checkout"), person)
    bare = ServiceFactory.create(slug="reporting", name="Reporting")
    result = IncidentManagementGate().evaluate(now=NOW)
    assert result.status == GateStatus.FAIL
    assert (GateStatus.FAIL, bare.get_absolute_url()) in statuses(result)
    assert result.reason.startswith("1 of 2 active services lack a complete escalation path")


def test_a_schedule_gap_in_the_next_week_fails_and_names_the_first_gap(person: User) -> None:
    service = ServiceFactory.create(slug="auth", name="Auth")
    covered_policy(service, person, office_hours=True)
    result = IncidentManagementGate().evaluate(now=NOW)
    assert result.status == GateStatus.FAIL
    row = result.evidence[0]
    # Office hours in UTC (the schedule's zone): Wednesday 17:00 is the first evening without anyone.
    assert row.label == "Auth: nobody on call in Auth rota"
    assert row.detail.startswith("First gap 2026-11-25 17:00 UTC to 2026-11-26 09:00 UTC")
    assert row.url == "/incidents/oncall/auth-rota/"


def test_missed_response_targets_below_the_share_put_it_at_risk(person: User) -> None:
    service = ServiceFactory.create(slug="checkout")
    covered_policy(service, person)
    for days in range(1, 9):  # 8 on time
        incident(service, ack_after=timedelta(minutes=10), ago=timedelta(days=days))
    late = [incident(service, ack_after=timedelta(hours=2), ago=timedelta(days=10 + n)) for n in range(2)]
    # 8 of 10 met = 80 % < 90 %.
    result = IncidentManagementGate().evaluate(now=NOW)
    assert result.status == GateStatus.AT_RISK
    assert "response targets met for 80.0 % of incidents, below 90 %" in result.reason
    assert {row.url for row in result.evidence if row.status == GateStatus.AT_RISK} >= {
        item.get_absolute_url() for item in late
    }


def test_an_overdue_review_puts_it_at_risk(person: User) -> None:
    service = ServiceFactory.create(slug="checkout")
    covered_policy(service, person)
    sev1 = incident(service, severity="SEV-1", ack_after=timedelta(minutes=3), ago=timedelta(days=20))
    services.incident_resolve(incident=sev1, at=sev1.triggered_at + timedelta(hours=1))
    review = PostIncidentReview.objects.get(incident=sev1)
    result = IncidentManagementGate().evaluate(now=NOW)
    assert result.status == GateStatus.AT_RISK
    assert (GateStatus.AT_RISK, review.get_absolute_url()) in statuses(result)


# --- Continuous improvement -----------------------------------------------------------------


def submitted_review(service: Service, author: User, *, items: int) -> PostIncidentReview:
    sev1 = incident(service, severity="SEV-1", ack_after=timedelta(minutes=3), ago=timedelta(days=3))
    services.incident_resolve(incident=sev1, at=sev1.triggered_at + timedelta(hours=1))
    review = PostIncidentReview.objects.get(incident=sev1)
    reviews.review_update(review=review, data={"summary": "s", "impact": "i", "root_causes": "r"}, actor=author)
    for index in range(items):
        reviews.action_item_create(title=f"Fix {index}", review=review, due_date=date(2026, 12, 20))
    PostIncidentReview.objects.filter(pk=review.pk).update(status="in_review", submitted_at=NOW)
    review.refresh_from_db()
    return review


def test_nothing_reviewed_and_no_backlog_is_no_evidence() -> None:
    assert ContinuousImprovementGate().evaluate(now=NOW).status == GateStatus.NO_EVIDENCE


def test_a_submitted_review_without_action_items_fails(person: User) -> None:
    review = submitted_review(ServiceFactory.create(slug="checkout"), person, items=0)
    result = ContinuousImprovementGate().evaluate(now=NOW)
    assert result.status == GateStatus.FAIL
    assert (GateStatus.FAIL, review.get_absolute_url()) in statuses(result)


def test_it_passes_when_items_are_on_time_and_being_closed(person: User) -> None:
    review = submitted_review(ServiceFactory.create(slug="checkout"), person, items=3)
    first = review.action_items.order_by("id").first()
    assert first is not None
    reviews.action_item_close(item=first)
    result = ContinuousImprovementGate().evaluate(now=NOW)
    assert result.status == GateStatus.PASS, result.reason
    assert [row.label for row in result.evidence] == [
        "All 1 submitted reviews have action items",
        "0 of 2 open action items overdue (0 %, limit 10 %)",
        "1 action item(s) done in the last 30 days",
    ]


def test_too_many_overdue_items_and_none_closed_put_it_at_risk(person: User) -> None:
    review = submitted_review(ServiceFactory.create(slug="checkout"), person, items=2)
    late = review.action_items.order_by("id").first()
    assert late is not None
    ActionItem.objects.filter(pk=late.pk).update(due_date=date(2026, 11, 1))
    result = ContinuousImprovementGate().evaluate(now=NOW)
    assert result.status == GateStatus.AT_RISK
    assert "50 % of open action items overdue (limit 10 %)" in result.reason
    assert "no action item done in the last 30 days" in result.reason
    assert (GateStatus.AT_RISK, late.get_absolute_url()) in statuses(result)
    assert ActionItem.objects.filter(status=ActionStatus.DONE).count() == 0
