"""Risk acceptance: four eyes like gate waivers; an accepted finding leaves the overdue count until it expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from opsgov.roles import SECURITY_LEAD, SRE_LEAD
from security import services
from security.models import Finding
from security.selectors import overdue

from .support import trivy

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


@pytest.fixture
def finding() -> Finding:
    services.import_scan(
        report=trivy("a", [("CVE-2024-3094", "xz", "5.6.0", "CRITICAL")]), asset_name="img", create_asset=True, now=NOW
    )
    return Finding.objects.get()


def _request(finding: Finding, requester: Any, approver: Any, **extra: Any) -> Any:
    args = {
        "finding": finding,
        "reason": "No fixed build yet",
        "compensating_control": "Egress blocked",
        "approver": approver,
        "expires_at": NOW + timedelta(days=30),
        "requested_by": requester,
        "now": NOW,
    } | extra
    return services.acceptance_request(**args)


def test_four_eyes_and_the_overdue_count(finding: Finding, make_user: Any) -> None:
    alice = make_user("alice", SECURITY_LEAD)
    bob = make_user("bob", SECURITY_LEAD)
    sre = make_user("sre", SRE_LEAD)
    later = NOW + timedelta(hours=49)
    assert list(overdue(Finding.objects.all(), later)) == [finding]

    with pytest.raises(ValidationError) as caught:
        _request(finding, alice, alice)
    assert "own" in caught.value.message_dict["approver"][0]
    with pytest.raises(ValidationError) as caught:
        _request(finding, alice, sre)
    assert SECURITY_LEAD in caught.value.message_dict["approver"][0]
    with pytest.raises(ValidationError) as caught:
        _request(finding, alice, bob, expires_at=NOW + timedelta(days=366))
    assert "365" in caught.value.message_dict["expires_at"][0]

    acceptance = _request(finding, alice, bob)
    assert list(overdue(Finding.objects.all(), later)) == [finding]  # pending: still overdue
    with pytest.raises(PermissionDenied):
        services.acceptance_approve(acceptance=acceptance, actor=alice, now=NOW)
    services.acceptance_approve(acceptance=acceptance, actor=bob, now=NOW + timedelta(hours=1))
    assert list(overdue(Finding.objects.all(), later)) == []
    # It expires: the finding is overdue again.
    assert list(overdue(Finding.objects.all(), NOW + timedelta(days=30))) == [finding]


def test_revoking_brings_it_back(finding: Finding, make_user: Any) -> None:
    alice, bob = make_user("alice", SECURITY_LEAD), make_user("bob", SECURITY_LEAD)
    acceptance = services.acceptance_approve(acceptance=_request(finding, alice, bob), actor=bob, now=NOW)
    services.acceptance_revoke(acceptance=acceptance, actor=alice, reason="fixed build exists", now=NOW)
    assert list(overdue(Finding.objects.all(), NOW + timedelta(days=3))) == [finding]
    with pytest.raises(ValidationError):
        services.acceptance_revoke(acceptance=acceptance, actor=alice, now=NOW)


def test_a_risk_acceptance_follows_the_one_exception_concept(finding: Finding, make_user: Any) -> None:
    """Core's base and rules (opsgov.exceptions): an approver who lost the role cannot approve, and a
    revoked acceptance says so in core's words."""
    from opsgov.models import FourEyesException
    from security.models import RiskAcceptance

    assert issubclass(RiskAcceptance, FourEyesException)
    alice, bob = make_user("alice", SECURITY_LEAD), make_user("bob", SECURITY_LEAD)
    acceptance = _request(finding, alice, bob)
    bob.groups.clear()
    bob = type(bob).objects.get(pk=bob.pk)  # roles are read once per user object
    with pytest.raises(PermissionDenied, match=f"Approving needs one of these roles: {SECURITY_LEAD}"):
        services.acceptance_approve(acceptance=acceptance, actor=bob, now=NOW)
    services.acceptance_revoke(acceptance=acceptance, actor=alice, reason="not needed", now=NOW)
    with pytest.raises(ValidationError) as caught:
        services.acceptance_revoke(acceptance=acceptance, actor=alice, now=NOW)
    assert caught.value.message_dict["state"] == ["This risk acceptance is already revoked."]
