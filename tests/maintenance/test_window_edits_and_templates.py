"""Editing and withdrawing windows (approval again; withdrawn windows stop counting; audited) and standard-change
templates (pre-approved: a change from one needs no authorisation)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from maintenance import services
from maintenance.models import ChangeKind, ChangeState, MaintenanceWindow
from opsgov.errors import DomainError
from opsgov.roles import DEVOPS_LEAD, PRODUCT_OWNER, SECURITY_LEAD, TECH_LEAD
from tests.factories import ServiceFactory

from .support import approved_window, utc

pytestmark = pytest.mark.django_db

#: A Sunday, inside the helper's window (Sundays 02:00-06:00 UTC).
SUNDAY_3AM = utc(2026, 3, 1, 3, 0)


def test_editing_the_timing_of_an_approved_window_needs_approval_again(personas: dict[str, User]) -> None:
    service = ServiceFactory.create(slug="checkout")
    window = approved_window(service)
    assert services.window_open(service_id=service.pk, at=SUNDAY_3AM)
    window = services.edit_window(window=window, changes={"duration": timedelta(hours=2)})
    assert (window.approved_at, window.approved_by) == (None, None)
    assert not services.window_open(service_id=service.pk, at=SUNDAY_3AM)
    services.approve_window(window=window, user=personas[PRODUCT_OWNER])
    assert services.window_open(service_id=service.pk, at=SUNDAY_3AM)
    assert not services.window_open(service_id=service.pk, at=SUNDAY_3AM + timedelta(hours=1, minutes=30))


def test_renaming_a_window_keeps_its_approval_and_a_bad_rule_is_refused() -> None:
    service = ServiceFactory.create(slug="checkout")
    window = approved_window(service)
    window = services.edit_window(window=window, changes={"name": "Sunday early", "notes": "as agreed"})
    assert window.approved_at is not None
    with pytest.raises(DomainError, match="rrule"):
        services.edit_window(window=window, changes={"rrule": "FREQ=SOMETIMES"})
    with pytest.raises(DomainError, match="cannot be changed: approved_at"):
        services.edit_window(window=window, changes={"approved_at": None})
    window.refresh_from_db()
    assert (window.rrule, window.approved_at is not None) == ("FREQ=WEEKLY;BYDAY=SU", True)


def test_changing_the_services_of_a_window_withdraws_its_approval() -> None:
    service, other = ServiceFactory.create(slug="checkout"), ServiceFactory.create(slug="ledger")
    window = approved_window(service)
    window = services.edit_window(window=window, changes={"services": [service, other]})
    assert window.approved_at is None
    assert set(window.services.values_list("slug", flat=True)) == {"checkout", "ledger"}


def test_a_withdrawn_window_stops_counting(personas: dict[str, User]) -> None:
    service = ServiceFactory.create(slug="checkout")
    window = approved_window(service)
    end = SUNDAY_3AM + timedelta(hours=1)
    inside = services.create_change(title="Inside", services=[service], planned_start=SUNDAY_3AM, planned_end=end)
    assert inside.outside_window is False
    with pytest.raises(DomainError, match="DevOps Lead or a Product Owner"):
        services.withdraw_window(window=window, user=personas[TECH_LEAD], reason="no")
    with pytest.raises(DomainError, match="why"):
        services.withdraw_window(window=window, user=personas[DEVOPS_LEAD], reason=" ")
    services.withdraw_window(window=window, user=personas[DEVOPS_LEAD], reason="Moved to Saturdays")
    assert not services.window_open(service_id=service.pk, at=SUNDAY_3AM)
    after = services.create_change(title="After", services=[service], planned_start=SUNDAY_3AM, planned_end=end)
    assert after.outside_window is True
    assert MaintenanceWindow.objects.active().count() == 0
    with pytest.raises(DomainError, match="withdrawn"):
        services.approve_window(window=window, user=personas[PRODUCT_OWNER])
    with pytest.raises(DomainError, match="withdrawn"):
        services.edit_window(window=window, changes={"name": "again"})


def test_edits_and_withdrawal_are_audited_through_the_api(
    personas: dict[str, User], client_for: Callable[[User], APIClient]
) -> None:
    service = ServiceFactory.create(slug="checkout")
    window = approved_window(service)
    url = f"/api/v1/maintenance/windows/{window.uuid}/"
    devops = client_for(personas[DEVOPS_LEAD])
    answer = devops.patch(url, {"duration": "03:00:00"}, format="json")
    assert answer.status_code == 200, answer.content
    assert (answer.json()["approved_at"], answer.json()["active"]) == (None, False)
    assert client_for(personas[TECH_LEAD]).patch(url, {"name": "x"}, format="json").status_code == 403
    bad = devops.patch(url, {"cron": "61 * * * *", "kind": "cron"}, format="json")
    assert bad.status_code == 400
    assert "cron" in bad.content.decode()
    withdrawn = client_for(personas[PRODUCT_OWNER]).post(f"{url}withdraw/", {"reason": "Retired"}, format="json")
    assert withdrawn.status_code == 200, withdrawn.content
    assert withdrawn.json()["withdraw_reason"] == "Retired"
    assert withdrawn.json()["withdrawn_by"] == str(personas[PRODUCT_OWNER])
    changes = [entry.changes_dict for entry in LogEntry.objects.get_for_object(window).order_by("timestamp")]
    assert any("duration" in c for c in changes)
    assert any("withdrawn_at" in c and "withdraw_reason" in c for c in changes)


def test_a_standard_change_from_an_approved_template_needs_no_authorisation(personas: dict[str, User]) -> None:
    service = ServiceFactory.create(slug="checkout")
    approved_window(service)
    template = services.create_template(
        name="Rotate TLS certificate", services=[service], backout_plan="Restore the previous certificate"
    )
    with pytest.raises(DomainError, match="not approved"):
        services.create_change(template=template)
    with pytest.raises(DomainError, match="Tech Lead"):
        services.approve_template(template=template, user=personas[DEVOPS_LEAD])
    template = services.approve_template(template=template, user=personas[TECH_LEAD])
    change = services.create_change(
        template=template, planned_start=SUNDAY_3AM, planned_end=SUNDAY_3AM + timedelta(minutes=30)
    )
    assert (change.kind, change.title, change.template) == (ChangeKind.STANDARD, "Rotate TLS certificate", template)
    assert change.backout_plan == "Restore the previous certificate"
    assert services.required_approvals(change) == []
    change = services.advance_change(change=change, to_state=ChangeState.SCHEDULED)
    assert change.state == ChangeState.SCHEDULED


def test_a_standard_change_in_a_freeze_still_needs_the_conflict_approval(personas: dict[str, User]) -> None:
    service = ServiceFactory.create(slug="checkout")
    template = services.approve_template(
        template=services.create_template(name="Restart workers", services=[service]), user=personas[TECH_LEAD]
    )
    services.create_freeze(name="Year end", starts_at=utc(2026, 12, 20), ends_at=utc(2027, 1, 3))
    change = services.create_change(
        template=template, planned_start=utc(2026, 12, 22, 10), planned_end=utc(2026, 12, 22, 11)
    )
    assert services.required_approvals(change) == ["conflict"]
    with pytest.raises(DomainError, match="Missing approvals: conflict"):
        services.advance_change(change=change, to_state=ChangeState.SCHEDULED)


def test_templates_guard_their_services_their_approver_and_standard_changes_need_one(
    personas: dict[str, User],
) -> None:
    service, other = ServiceFactory.create(slug="checkout"), ServiceFactory.create(slug="ledger")
    security = services.create_template(name="Patch openssl", services=[service], category="security_patch")
    with pytest.raises(DomainError, match="Security Lead"):
        services.approve_template(template=security, user=personas[TECH_LEAD])
    security = services.approve_template(template=security, user=personas[SECURITY_LEAD])
    with pytest.raises(DomainError, match="does not cover ledger"):
        services.create_change(template=security, services=[other])
    with pytest.raises(DomainError, match="from a pre-approved template"):
        services.create_change(title="Sneaky", services=[service], kind=ChangeKind.STANDARD)
    security = services.retire_template(template=security)
    with pytest.raises(DomainError, match="retired"):
        services.create_change(template=security)


def test_the_api_creates_approves_and_uses_a_template(
    personas: dict[str, User], client_for: Callable[[User], APIClient]
) -> None:
    ServiceFactory.create(slug="checkout")
    devops = client_for(personas[DEVOPS_LEAD])
    created = devops.post(
        "/api/v1/maintenance/change-templates/",
        {"name": "Scale out", "services": ["checkout"], "risk": "low"},
        format="json",
    )
    assert created.status_code == 201, created.content
    uuid = created.json()["uuid"]
    assert devops.post(f"/api/v1/maintenance/change-templates/{uuid}/approve/").status_code == 403
    approved = client_for(personas[TECH_LEAD]).post(f"/api/v1/maintenance/change-templates/{uuid}/approve/")
    assert approved.status_code == 200
    assert approved.json()["usable"] is True
    change = devops.post("/api/v1/maintenance/changes/", {"template": uuid}, format="json")
    assert change.status_code == 201, change.content
    assert (change.json()["kind"], change.json()["title"], change.json()["services"]) == (
        "standard",
        "Scale out",
        ["checkout"],
    )
    assert change.json()["missing_approvals"] == []
    missing = devops.post("/api/v1/maintenance/changes/", {"title": "No services"}, format="json")
    assert missing.status_code == 400
    assert "services" in missing.content.decode()
