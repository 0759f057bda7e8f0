"""Fixtures of the gate engine tests: a gate whose result each test scripts, services, and people by role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest
from django.contrib.auth.models import User

from opsgov.gates import waivers
from opsgov.models import GateStatus, GateWaiver, Service
from opsgov.registry import Evidence, Gate, GateResult, gates
from opsgov.roles import SRE_LEAD, SUPPORT_TEAM, TECH_LEAD

from ..factories import ServiceFactory, TeamFactory

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KEY = "scripted"


class ScriptedGate(Gate):
    """A gate that returns whatever the test put in `ScriptedGate.result`."""

    key = KEY
    step = 2
    title = "Scripted gate"
    owner_roles = (SRE_LEAD, TECH_LEAD)
    approver_roles = (SRE_LEAD,)
    description = "A gate for tests."
    result: ClassVar[GateResult | None] = None

    def evaluate(self, *, now: datetime) -> GateResult:
        if ScriptedGate.result is None:
            return GateResult(status=GateStatus.NO_EVIDENCE, reason="No evidence: nothing scripted.")
        return ScriptedGate.result


def row(status: GateStatus, service: str = "", key: str = "", label: str = "") -> Evidence:
    return Evidence(
        label=label or f"{key or 'row'} {status}",
        status=status,
        detail=f"{status} detail",
        url=f"/services/{service}/" if service else "/",
        service=service,
        key=key,
    )


def script(status: GateStatus, *rows: Evidence, reason: str = "") -> None:
    ScriptedGate.result = GateResult(status=status, reason=reason or f"scripted {status}", evidence=list(rows))


@pytest.fixture
def scripted_gate() -> Iterator[type[ScriptedGate]]:
    gates.register(ScriptedGate)
    ScriptedGate.result = None
    try:
        yield ScriptedGate
    finally:
        gates.unregister(KEY)
        ScriptedGate.result = None


@dataclass
class World:
    checkout: Service
    search: Service
    sre: User  # an SRE Lead: approves waivers of the scripted gate
    sre2: User  # another SRE Lead
    tech: User  # a Tech Lead: owns the scripted gate, cannot approve its waivers
    support: User  # Support Team: neither

    def waiver(
        self,
        *,
        key: str = "escalation:checkout",
        service: Service | None = None,
        organisation_wide: bool = False,
        expires_in: timedelta = timedelta(days=30),
        requested_by: User | None = None,
        approver: User | None = None,
        approve: bool = True,
        now: datetime = NOW,
    ) -> GateWaiver:
        waiver = waivers.waiver_request(
            gate=KEY,
            evidence_key=key,
            service=None if organisation_wide else service or self.checkout,
            reason="Vendor rota starts next month",
            compensating_control="Team lead carries the pager",
            approver=approver or self.sre,
            expires_at=now + expires_in,
            requested_by=requested_by or self.tech,
            now=now,
        )
        if approve:
            waiver = waivers.waiver_approve(waiver=waiver, actor=approver or self.sre, now=now)
        return waiver


@pytest.fixture
def world(make_user: Callable[..., User]) -> World:
    platform = TeamFactory.create(slug="platform", name="Platform", email="platform@example.com")
    discovery = TeamFactory.create(slug="discovery", name="Discovery", email="discovery@example.com")
    return World(
        checkout=ServiceFactory.create(slug="checkout", name="Checkout", owner_team=platform),
        search=ServiceFactory.create(slug="search", name="Search", owner_team=discovery),
        sre=make_user("sre", SRE_LEAD, first_name="Sam", last_name="Reyes"),
        sre2=make_user("sre2", SRE_LEAD),
        tech=make_user("tech", TECH_LEAD),
        support=make_user("support", SUPPORT_TEAM),
    )
