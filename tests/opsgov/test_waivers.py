"""Waiver rules: the approver's role, four eyes, the expiry, what can be waived, and the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from opsgov.gates import services as gates_engine
from opsgov.gates import waivers
from opsgov.models import GateStatus, GateWaiver, WaiverState
from opsgov.registry import gates
from opsgov.roles import SRE_LEAD

from .gate_support import KEY, NOW, ScriptedGate, World, row, script, scripted_gate, world

__all__ = ["scripted_gate", "world"]  # fixtures used by the tests below

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def failing(scripted_gate: type[ScriptedGate], world: World) -> World:
    """The scripted gate's latest evaluation: checkout fails escalation, search passes."""
    script(
        GateStatus.FAIL,
        row(GateStatus.FAIL, "checkout", "escalation:checkout"),
        row(GateStatus.PASS, "search", "escalation:search"),
        row(GateStatus.FAIL, "", "response_targets"),
    )
    gates_engine.evaluate_gate(gate=gates.get(KEY), now=NOW)
    return world


def request(world: World, **overrides: Any) -> GateWaiver:
    fields: dict[str, Any] = {
        "gate": KEY,
        "evidence_key": "escalation:checkout",
        "service": world.checkout,
        "reason": "Vendor rota starts next month",
        "compensating_control": "Team lead carries the pager",
        "approver": world.sre,
        "expires_at": NOW + timedelta(days=30),
        "requested_by": world.tech,
        "now": NOW,
    }
    fields.update(overrides)
    return waivers.waiver_request(**fields)


def errors(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


def test_a_request_is_pending_until_its_approver_approves_it(failing: World) -> None:
    waiver = request(failing)
    assert waiver.state == WaiverState.PENDING and waiver.approved_at is None
    approved = waivers.waiver_approve(waiver=waiver, actor=failing.sre, now=NOW)
    assert approved.state == WaiverState.ACTIVE and approved.approved_at == NOW


def test_the_approver_must_hold_the_gates_approver_role(failing: World) -> None:
    # The scripted gate's waivers are approved by an SRE Lead; a Tech Lead owns the gate but does not approve.
    with pytest.raises(ValidationError) as caught:
        request(failing, approver=failing.support, requested_by=failing.sre)
    assert errors(caught) == {"approver": ["The approver must hold one of these roles: SRE Lead."]}
    with pytest.raises(ValidationError) as caught:
        request(failing, approver=failing.tech, requested_by=failing.sre)
    assert list(errors(caught)) == ["approver"]


def test_approver_roles_default_to_the_gates_owner_roles() -> None:
    incident_gate = gates.get("incident_management")
    assert incident_gate.approver_roles == ()
    assert incident_gate.waiver_approver_roles() == incident_gate.owner_roles == (SRE_LEAD,)
    assert ScriptedGate().waiver_approver_roles() == (SRE_LEAD,)


def test_nobody_approves_their_own_waiver(failing: World) -> None:
    with pytest.raises(ValidationError) as caught:
        request(failing, approver=failing.sre, requested_by=failing.sre)
    assert errors(caught) == {"approver": ["You cannot approve your own waiver; name another approver."]}

    # Nor through the approval: an SRE Lead asks another SRE Lead, then tries to approve it himself.
    waiver = request(failing, approver=failing.sre2, requested_by=failing.sre)
    with pytest.raises(PermissionDenied, match="their own waiver"):
        waivers.waiver_approve(waiver=waiver, actor=failing.sre, now=NOW)
    # And the database refuses it too.
    with pytest.raises(IntegrityError), transaction.atomic():
        GateWaiver.objects.filter(pk=waiver.pk).update(approver=failing.sre)


def test_only_the_named_approver_still_holding_the_role_approves(failing: World) -> None:
    waiver = request(failing, approver=failing.sre)
    with pytest.raises(PermissionDenied, match="Only the approver the request names"):
        waivers.waiver_approve(waiver=waiver, actor=failing.sre2, now=NOW)
    failing.sre.groups.clear()
    failing.sre._opsgov_roles = None  # type: ignore[attr-defined]  # the role check caches per user object
    with pytest.raises(PermissionDenied, match="Approving needs one of these roles: SRE Lead"):
        waivers.waiver_approve(waiver=waiver, actor=failing.sre, now=NOW)
    assert GateWaiver.objects.get(pk=waiver.pk).approved_at is None


def test_the_expiry_is_required_in_the_future_and_within_a_year(failing: World) -> None:
    for expires_at, message in (
        (NOW, "The expiry must be in the future."),
        (NOW - timedelta(days=1), "The expiry must be in the future."),
        (None, "The expiry must be in the future."),
        (NOW + timedelta(days=365, seconds=1), "A waiver runs at most 365 days; choose an earlier expiry."),
    ):
        with pytest.raises(ValidationError) as caught:
            request(failing, expires_at=expires_at)
        assert errors(caught) == {"expires_at": [message]}, expires_at
    assert request(failing, expires_at=NOW + timedelta(days=365)).expires_at == NOW + timedelta(days=365)


def test_only_a_failing_check_of_the_latest_evaluation_with_a_service_can_be_waived(failing: World) -> None:
    for key, service in (
        ("escalation:search", failing.search),  # passes
        ("escalation:checkout", failing.search),  # another service's check
        ("response_targets", failing.checkout),  # a global row: no service to waive it for
        ("no-such-check", failing.checkout),
    ):
        with pytest.raises(ValidationError) as caught:
            request(failing, evidence_key=key, service=service)
        assert list(errors(caught)) == ["evidence_key"], key


def test_a_failing_check_about_no_service_is_waived_organisation_wide(failing: World) -> None:
    waiver = request(failing, evidence_key="response_targets", service=None)
    assert (waiver.service, waiver.service_label, waiver.state) == (None, "organisation-wide", WaiverState.PENDING)
    assert GateWaiver.objects.get(pk=waiver.pk).service_id is None
    # The same key for a service is another check, which the evaluation does not have ...
    with pytest.raises(ValidationError) as caught:
        request(failing, evidence_key="response_targets", service=failing.checkout, approver=failing.sre2)
    assert list(errors(caught)) == ["evidence_key"]
    # ... and a service's check cannot be waived organisation-wide.
    with pytest.raises(ValidationError) as caught:
        request(failing, evidence_key="escalation:checkout", service=None, approver=failing.sre2)
    assert errors(caught) == {
        "evidence_key": [
            "The latest evaluation of 'Scripted gate' has no failing or at-risk check 'escalation:checkout' "
            "about no service (organisation-wide); only such a check can be waived."
        ]
    }
    # The rules of every waiver hold: four eyes, the approver's role, the expiry.
    with pytest.raises(ValidationError) as caught:
        request(
            failing,
            evidence_key="response_targets",
            service=None,
            approver=failing.tech,
            requested_by=failing.tech,
            expires_at=NOW + timedelta(days=366),
        )
    assert set(errors(caught)) == {"approver", "expires_at", "evidence_key"}  # evidence_key: already open


def test_one_open_waiver_per_organisation_wide_check(failing: World) -> None:
    first = request(failing, evidence_key="response_targets", service=None)
    with pytest.raises(ValidationError) as caught:
        request(failing, evidence_key="response_targets", service=None, approver=failing.sre2)
    assert errors(caught) == {
        "evidence_key": ["This organisation-wide check already has an open waiver; revoke it first."]
    }
    # A waiver of a service's check neither blocks nor is blocked by it.
    assert request(failing).service == failing.checkout
    waivers.waiver_revoke(waiver=first, actor=failing.tech, now=NOW)
    again = request(failing, evidence_key="response_targets", service=None, approver=failing.sre2)
    assert again.state == WaiverState.PENDING and again.service is None
    # Once expired, it is not open any more either.
    later = NOW + timedelta(days=30)
    assert waivers.open_waivers(gate=KEY, now=later).filter(service=None).count() == 0


def test_reason_and_compensating_control_are_required(failing: World) -> None:
    with pytest.raises(ValidationError) as caught:
        request(failing, reason="  ", compensating_control="")
    assert set(errors(caught)) == {"reason", "compensating_control"}


def test_one_open_waiver_per_check_and_service(failing: World) -> None:
    first = request(failing)
    with pytest.raises(ValidationError) as caught:
        request(failing, approver=failing.sre2)
    assert errors(caught) == {
        "evidence_key": ["This check already has an open waiver for this service; revoke it first."]
    }
    waivers.waiver_revoke(waiver=first, actor=failing.tech, now=NOW)
    assert request(failing, approver=failing.sre2).state == WaiverState.PENDING


def test_revoking_needs_the_requester_the_approver_or_the_approver_role(failing: World) -> None:
    waiver = request(failing)
    with pytest.raises(PermissionDenied):
        waivers.waiver_revoke(waiver=waiver, actor=failing.support, now=NOW)
    revoked = waivers.waiver_revoke(waiver=waiver, actor=failing.sre2, reason="Rota is live", now=NOW)
    assert (revoked.state, revoked.revoked_by, revoked.revoke_reason) == (
        WaiverState.REVOKED,
        failing.sre2,
        "Rota is live",
    )
    with pytest.raises(ValidationError, match="already revoked"):
        waivers.waiver_revoke(waiver=waiver, actor=failing.sre, now=NOW)


def test_an_expired_waiver_can_be_neither_approved_nor_revoked(failing: World) -> None:
    waiver = request(failing, expires_at=NOW + timedelta(days=1))
    later = NOW + timedelta(days=1)
    assert waiver.state_at(later) == WaiverState.EXPIRED
    with pytest.raises(ValidationError, match="this one is expired"):
        waivers.waiver_approve(waiver=waiver, actor=failing.sre, now=later)
    with pytest.raises(ValidationError, match="already expired"):
        waivers.waiver_revoke(waiver=waiver, actor=failing.sre, now=later)


def test_the_state_filter_splits_pending_active_expired_and_revoked(failing: World) -> None:
    script(GateStatus.FAIL, *(row(GateStatus.FAIL, "checkout", key) for key in "abcd"))
    gates_engine.evaluate_gate(gate=gates.get(KEY), now=NOW)
    pending = request(failing, evidence_key="a")
    active = waivers.waiver_approve(waiver=request(failing, evidence_key="b"), actor=failing.sre, now=NOW)
    expired = request(failing, evidence_key="c", expires_at=NOW + timedelta(days=1))
    revoked = waivers.waiver_revoke(waiver=request(failing, evidence_key="d"), actor=failing.tech, now=NOW)
    later = NOW + timedelta(days=2)
    every = GateWaiver.objects.all()
    for state, expected in (
        (WaiverState.PENDING, pending),
        (WaiverState.ACTIVE, active),
        (WaiverState.EXPIRED, expired),
        (WaiverState.REVOKED, revoked),
    ):
        assert list(waivers.filter_state(every, [state], now=later)) == [expected], state
        assert expected.state_at(later) == state
    assert waivers.filter_state(every, [WaiverState.PENDING, WaiverState.ACTIVE], now=later).count() == 2


def test_waivers_are_audited_with_their_actor(failing: World) -> None:
    with set_actor(failing.tech):
        waiver = request(failing)
    with set_actor(failing.sre):
        waivers.waiver_approve(waiver=waiver, actor=failing.sre, now=NOW)
    with set_actor(failing.tech):
        waivers.waiver_revoke(waiver=waiver, actor=failing.tech, reason="done", now=NOW)
    entries = list(LogEntry.objects.get_for_object(waiver).order_by("timestamp", "pk"))
    assert [(entry.action, entry.actor) for entry in entries] == [
        (LogEntry.Action.CREATE, failing.tech),
        (LogEntry.Action.UPDATE, failing.sre),
        (LogEntry.Action.UPDATE, failing.tech),
    ]
    assert "approved_at" in entries[1].changes_dict
    assert set(entries[2].changes_dict) >= {"revoked_at", "revoked_by", "revoke_reason"}


def test_an_organisation_wide_waiver_is_audited_like_any_other(failing: World) -> None:
    with set_actor(failing.tech):
        waiver = request(failing, evidence_key="response_targets", service=None)
    with set_actor(failing.sre):
        waivers.waiver_approve(waiver=waiver, actor=failing.sre, now=NOW)
    entries = list(LogEntry.objects.get_for_object(waiver).order_by("timestamp", "pk"))
    assert [(entry.action, entry.actor) for entry in entries] == [
        (LogEntry.Action.CREATE, failing.tech),
        (LogEntry.Action.UPDATE, failing.sre),
    ]
    assert entries[0].changes_dict["evidence_key"] == ["None", "response_targets"]
    assert entries[0].changes_dict["service"] == ["None", "None"]


def test_the_admin_shows_waivers_and_gate_emails_read_only(failing: World, admin_client: Any) -> None:
    waiver = failing.waiver()
    org_wide = failing.waiver(key="response_targets", organisation_wide=True, approver=failing.sre2)
    changelist = admin_client.get("/admin/opsgov/gatewaiver/")
    page = changelist.content.decode()
    assert changelist.status_code == 200 and "escalation:checkout" in page
    assert '<td class="field-service_label">Checkout</td>' in page
    assert '<td class="field-service_label">organisation-wide</td>' in page
    # The service filter's choice for waivers without a service says so, and keeps only those.
    assert 'href="?service__isnull=True"' in page and "organisation-wide</a>" in page
    only_org = admin_client.get("/admin/opsgov/gatewaiver/?service__isnull=True").content.decode()
    assert f"/admin/opsgov/gatewaiver/{org_wide.pk}/change/" in only_org
    assert f"/admin/opsgov/gatewaiver/{waiver.pk}/change/" not in only_org
    assert admin_client.get(f"/admin/opsgov/gatewaiver/{waiver.pk}/change/").status_code == 200  # view only
    detail = admin_client.get(f"/admin/opsgov/gatewaiver/{org_wide.pk}/change/").content.decode()
    assert '<div class="readonly">organisation-wide</div>' in detail and "Team lead carries the pager" in detail
    assert admin_client.get("/admin/opsgov/gatewaiver/add/").status_code == 403
    assert admin_client.get("/admin/opsgov/gatenotification/").status_code == 200
