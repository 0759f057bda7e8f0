"""The one exception concept (opsgov.exceptions, opsgov.models.FourEyesException): the shared rules and
messages, on the gate waiver table (unchanged) and on compliance's exceptions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied, ValidationError

from compliance import services as compliance
from compliance.models import ComplianceException, Control
from opsgov import exceptions
from opsgov.models import FourEyesException, GateWaiver, WaiverState
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def test_both_tables_derive_the_base_and_gatewaiver_keeps_its_columns() -> None:
    assert issubclass(GateWaiver, FourEyesException) and issubclass(ComplianceException, FourEyesException)
    assert GateWaiver._meta.db_table == "opsgov_gatewaiver"
    # The reverse names the waiver table always had (a change would have needed an opsgov migration).
    assert GateWaiver._meta.get_field("requested_by").remote_field.related_name == "gate_waivers_requested"
    names = {constraint.name for constraint in GateWaiver._meta.constraints}
    assert {"gatewaiver_not_self_approved", "gatewaiver_expires_after_start"} <= names


def test_request_errors_name_the_fields(make_user: Callable[..., User]) -> None:
    lead = make_user("lead", "SRE Lead")
    nobody = make_user("nobody")
    roles = ["SRE Lead"]
    assert exceptions.request_errors(
        approver=nobody, requested_by=lead, roles=roles, expires_at=NOW, now=NOW, noun="waiver"
    ) == {
        "approver": ["The approver must hold one of these roles: SRE Lead."],
        "expires_at": ["The expiry must be in the future."],
    }
    assert exceptions.request_errors(
        approver=lead, requested_by=lead, roles=roles, expires_at=NOW + timedelta(days=366), now=NOW, noun="exception"
    ) == {
        "approver": ["You cannot approve your own exception; name another approver."],
        "expires_at": ["An exception runs at most 365 days; choose an earlier expiry."],
    }
    # A caller's shorter limit applies; a longer one is capped at a year.
    assert exceptions.request_errors(
        approver=lead,
        requested_by=nobody,
        roles=roles,
        expires_at=NOW + timedelta(days=31),
        now=NOW,
        noun="risk acceptance",
        longest=timedelta(days=30),
    ) == {"expires_at": ["A risk acceptance runs at most 30 days; choose an earlier expiry."]}
    assert (
        exceptions.request_errors(
            approver=lead,
            requested_by=nobody,
            roles=roles,
            expires_at=NOW + timedelta(days=365),
            now=NOW,
            noun="waiver",
            longest=timedelta(days=900),
        )
        == {}
    )


def test_approve_revoke_and_validity_on_a_waiver_row(make_user: Callable[..., User]) -> None:
    lead, tech, other_lead = make_user("lead", "SRE Lead"), make_user("tech"), make_user("lead2", "SRE Lead")
    service = ServiceFactory.create(slug="checkout")
    waiver = GateWaiver.objects.create(
        gate="g",
        evidence_key="k",
        service=service,
        reason="r",
        compensating_control="c",
        requested_by=tech,
        approver=lead,
        expires_at=NOW + timedelta(days=10),
        created_at=NOW,
    )
    with pytest.raises(PermissionDenied, match="Nobody can approve their own waiver"):
        exceptions.approve(waiver, actor=tech, roles=["SRE Lead"], now=NOW, noun="waiver")
    with pytest.raises(PermissionDenied, match="Only the approver the request names"):
        exceptions.approve(waiver, actor=other_lead, roles=["SRE Lead"], now=NOW, noun="waiver")
    assert not exceptions.is_valid(waiver, NOW)
    exceptions.approve(waiver, actor=lead, roles=["SRE Lead"], now=NOW, noun="waiver")
    waiver.refresh_from_db()
    assert exceptions.is_valid(waiver, NOW) and not exceptions.is_valid(waiver, NOW + timedelta(days=10))
    rows = GateWaiver.objects.all()
    assert list(exceptions.in_state(rows, [WaiverState.ACTIVE], now=NOW)) == [waiver]
    assert list(exceptions.in_state(rows, [WaiverState.EXPIRED], now=NOW + timedelta(days=11))) == [waiver]
    assert exceptions.revoke(waiver, actor=lead, reason=" done ", now=NOW, noun="waiver") == WaiverState.ACTIVE
    waiver.refresh_from_db()
    assert (waiver.state_at(NOW), waiver.revoke_reason) == (WaiverState.REVOKED, "done")
    with pytest.raises(ValidationError, match="This waiver is already revoked"):
        exceptions.revoke(waiver, actor=lead, reason="", now=NOW, noun="waiver")


def test_compliance_exceptions_follow_the_same_rules(make_user: Callable[..., User]) -> None:
    Group.objects.get_or_create(name="CISO")
    officer, ciso, outsider = make_user("officer", "Compliance Officer"), make_user("ciso", "CISO"), make_user("x")
    control = Control.objects.create(ref_id="C-1", title="Control")
    with pytest.raises(ValidationError) as caught:
        compliance.exception_request(
            title="t",
            justification="j",
            compensating_control="c",
            approver=officer,
            requested_by=officer,
            expires_at=NOW + timedelta(days=400),
            control=control,
            now=NOW,
        )
    assert caught.value.message_dict == {
        "approver": ["You cannot approve your own exception; name another approver."],
        "expires_at": ["An exception runs at most 365 days; choose an earlier expiry."],
    }
    exception = compliance.exception_request(
        title="t",
        justification=" Being retired ",
        compensating_control="c",
        approver=ciso,
        requested_by=officer,
        expires_at=NOW + timedelta(days=30),
        control=control,
        now=NOW,
    )
    assert exception.reason == "Being retired" and exception.approver_role == "CISO"
    with pytest.raises(PermissionDenied, match="Only the requester, the approver"):
        compliance.exception_revoke(exception=exception, actor=outsider, now=NOW)
    compliance.exception_approve(exception=exception, actor=ciso, now=NOW)
    with pytest.raises(ValidationError, match="Only an exception awaiting approval can be approved; this one is act"):
        compliance.exception_approve(exception=exception, actor=ciso, now=NOW)
    compliance.exception_revoke(exception=exception, actor=officer, reason="fixed", now=NOW)
    exception.refresh_from_db()
    assert exception.state_at(NOW) == WaiverState.REVOKED and exception.revoked_by == officer
