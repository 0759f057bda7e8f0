"""Change records: states, approvals by role, conflicts with windows and freezes, the error-budget rule."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from maintenance import services
from maintenance.models import ChangeRecord, ChangeState
from opsgov.errors import DomainError
from opsgov.registry import error_budgets
from opsgov.roles import DEVOPS_LEAD, PRODUCT_OWNER, SECURITY_LEAD, SRE_LEAD, TECH_LEAD
from tests.factories import ServiceFactory

from .support import approved_window, utc

pytestmark = pytest.mark.django_db

CHANGES = "/api/v1/maintenance/changes/"


@pytest.fixture
def budget_lookup() -> Iterator[dict[int, bool]]:
    """A stand-in provider of opsgov.registry.error_budgets (monitoring provides the real one)."""
    spent: dict[int, bool] = {}
    previous = error_budgets._lookup
    error_budgets.provide(lambda *, service_ids, now: {i: spent.get(i, False) for i in service_ids})
    yield spent
    error_budgets._lookup = previous


def test_a_normal_change_inside_an_approved_window_goes_through_with_the_tech_leads_approval(
    personas: dict[str, User],
) -> None:
    service = ServiceFactory.create(slug="checkout")
    approved_window(service)
    change = services.create_change(
        title="Resize the pool",
        services=[service],
        planned_start=utc(2026, 3, 1, 2, 30),
        planned_end=utc(2026, 3, 1, 3, 30),
    )
    assert (change.outside_window, change.in_freeze) == (False, False)
    assert change.window is not None
    assert services.required_approvals(change) == ["technical"]
    for state in ("assess", "authorise"):
        change = services.advance_change(change=change, to_state=state)
    with pytest.raises(DomainError, match="Missing approvals: technical"):
        services.advance_change(change=change, to_state="scheduled")
    with pytest.raises(DomainError, match="given by a Tech Lead"):
        services.approve_change(change=change, reason="technical", user=personas[DEVOPS_LEAD])
    services.approve_change(change=change, reason="technical", user=personas[TECH_LEAD])
    change = services.advance_change(change=change, to_state="scheduled", now=utc(2026, 2, 20))
    change = services.advance_change(change=change, to_state="implement", now=utc(2026, 3, 1, 2, 31))
    change = services.advance_change(change=change, to_state="review", now=utc(2026, 3, 1, 3, 0))
    with pytest.raises(DomainError, match="outcome"):
        services.advance_change(change=change, to_state="closed")
    change = services.advance_change(change=change, to_state="closed", outcome="successful")
    assert (change.state, change.actual_start, change.actual_end) == (
        ChangeState.CLOSED,
        utc(2026, 3, 1, 2, 31),
        utc(2026, 3, 1, 3, 0),
    )


def test_a_change_outside_its_windows_is_flagged_and_needs_the_product_owners_approval(
    personas: dict[str, User],
) -> None:
    service = ServiceFactory.create(slug="checkout")
    approved_window(service)
    change = services.create_change(
        title="Tuesday change", services=[service], planned_start=utc(2026, 3, 3, 10), planned_end=utc(2026, 3, 3, 11)
    )
    assert change.outside_window
    assert services.required_approvals(change) == ["technical", "conflict"]
    services.approve_change(change=change, reason="technical", user=personas[TECH_LEAD])
    for state in ("assess", "authorise"):
        change = services.advance_change(change=change, to_state=state)
    with pytest.raises(DomainError, match="conflict"):
        services.advance_change(change=change, to_state="scheduled")
    services.approve_change(change=change, reason="conflict", user=personas[PRODUCT_OWNER])
    assert services.advance_change(change=change, to_state="scheduled").state == "scheduled"


def test_a_change_across_the_end_of_a_window_is_outside_it() -> None:
    service = ServiceFactory.create(slug="checkout")
    approved_window(service)  # 02:00-06:00
    change = services.create_change(
        title="Too long", services=[service], planned_start=utc(2026, 3, 1, 5), planned_end=utc(2026, 3, 1, 7)
    )
    assert change.outside_window


def test_an_unapproved_window_does_not_count() -> None:
    service = ServiceFactory.create(slug="checkout")
    services.create_window(
        name="draft",
        services=[service],
        first_start=utc(2026, 1, 4, 2),
        duration=timedelta(hours=4),
        rrule="FREQ=WEEKLY;BYDAY=SU",
    )
    change = services.create_change(
        title="x", services=[service], planned_start=utc(2026, 3, 1, 2, 30), planned_end=utc(2026, 3, 1, 3)
    )
    assert change.outside_window


def test_a_change_inside_a_freeze_is_flagged_even_inside_a_window() -> None:
    service = ServiceFactory.create(slug="checkout")
    approved_window(service)
    services.create_freeze(name="Year end", starts_at=utc(2026, 2, 25), ends_at=utc(2026, 3, 5))
    change = services.create_change(
        title="x", services=[service], planned_start=utc(2026, 3, 1, 2, 30), planned_end=utc(2026, 3, 1, 3)
    )
    assert (change.outside_window, change.in_freeze) == (False, True)
    assert "conflict" in services.required_approvals(change)


def test_a_security_patch_is_validated_by_the_security_lead(personas: dict[str, User]) -> None:
    service = ServiceFactory.create(slug="checkout")
    change = services.create_change(title="openssl", services=[service], category="security_patch")
    assert services.required_approvals(change)[0] == "security"
    with pytest.raises(DomainError):
        services.approve_change(change=change, reason="security", user=personas[TECH_LEAD])
    services.approve_change(change=change, reason="security", user=personas[SECURITY_LEAD])
    with pytest.raises(DomainError, match="already"):
        services.approve_change(change=change, reason="security", user=personas[SECURITY_LEAD])


def test_an_emergency_change_is_implemented_first_and_approved_afterwards(personas: dict[str, User]) -> None:
    service = ServiceFactory.create(slug="checkout")
    change = services.create_change(title="hotfix", services=[service], kind="emergency")
    change = services.advance_change(change=change, to_state="implement", now=utc(2026, 3, 3, 10))
    assert change.state == "implement"
    assert services.missing_approvals(change) == ["technical", "conflict"]
    with pytest.raises(DomainError):
        services.advance_change(change=change, to_state="closed")


def test_a_normal_change_to_a_service_whose_budget_is_spent_needs_the_sre_lead(
    budget_lookup: dict[int, bool], personas: dict[str, User]
) -> None:
    service = ServiceFactory.create(slug="checkout")
    budget_lookup[service.pk] = True
    change = services.create_change(title="x", services=[service])
    assert change.budget_spent
    assert "error_budget" in services.required_approvals(change)
    services.approve_change(change=change, reason="error_budget", user=personas[SRE_LEAD])
    calm = ServiceFactory.create(slug="calm")
    assert not services.create_change(title="y", services=[calm]).budget_spent


def test_the_api_creates_a_change_and_the_leads_approve_it(
    personas: dict[str, User], client_for: Callable[[User], APIClient]
) -> None:
    service = ServiceFactory.create(slug="checkout")
    devops = client_for(personas[DEVOPS_LEAD])
    answer = devops.post(
        CHANGES,
        {
            "title": "Tuesday change",
            "services": ["checkout"],
            "planned_start": "2026-03-03T10:00:00Z",
            "planned_end": "2026-03-03T11:00:00Z",
            "risk": "medium",
            "backout_plan": "Roll back the release.",
        },
        format="json",
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["outside_window"] is True
    assert body["missing_approvals"] == ["technical", "conflict"]
    url = f"{CHANGES}{body['uuid']}/approve/"
    assert client_for(personas[SUPPORT]).post(url, {"reason": "conflict"}, format="json").status_code == 403
    answer = client_for(personas[PRODUCT_OWNER]).post(url, {"reason": "conflict"}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["missing_approvals"] == ["technical"]
    assert client_for(personas[PRODUCT_OWNER]).post(CHANGES, {"title": "x"}, format="json").status_code == 403
    assert devops.post(CHANGES, {"title": "x", "services": []}, format="json").status_code == 400
    bad = devops.post(f"{CHANGES}{body['uuid']}/advance/", {"state": "closed"}, format="json")
    assert bad.status_code == 400
    assert ChangeRecord.objects.filter(services=service).count() == 1


SUPPORT = "Support Team"
