"""End of life: the imported table (the fixture's shape), components near it, upgrade plans, the gate row."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from maintenance import selectors, services
from maintenance.models import EndOfLife
from opsgov.errors import DomainError
from opsgov.models import GateStatus
from opsgov.registry import gates
from opsgov.roles import DEVOPS_LEAD, TECH_LEAD
from tests.factories import ServiceFactory

from .support import fixture, utc

pytestmark = pytest.mark.django_db


def test_the_fixture_table_imports_with_dates_and_booleans(
    personas: dict[str, User], client_for: Callable[[User], APIClient]
) -> None:
    rows = json.loads(fixture("endoflife-postgresql.json"))
    rows.append({"cycle": "9.6", "eol": True})
    answer = client_for(personas[DEVOPS_LEAD]).post(
        "/api/v1/maintenance/end-of-life/", {"product": "postgresql", "cycles": rows}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"cycles": 4}
    table = {row.cycle: row for row in EndOfLife.objects.filter(product="postgresql")}
    assert table["13"].eol_date == date(2025, 11, 13)
    assert table["9.6"].eol_reached is True
    assert table["17"].latest == "17.2"
    bad = client_for(personas[DEVOPS_LEAD]).post(
        "/api/v1/maintenance/end-of-life/",
        {"product": "postgresql", "cycles": [{"cycle": "16", "eol": "soon"}]},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "cycles.0.eol"


def test_a_component_near_its_end_of_life_needs_a_plan_for_the_gate(personas: dict[str, User]) -> None:
    services.import_eol(product="postgresql", rows=json.loads(fixture("endoflife-postgresql.json")))
    ledger = ServiceFactory.create(slug="ledger")
    old = services.record_component(service=ledger, product="PostgreSQL", version="13.14")
    fine = services.record_component(service=ServiceFactory.create(slug="other"), product="postgresql", version="17.1")
    now = utc(2025, 8, 1)  # 13 ends 2025-11-13: within 180 days; 17 ends in 2029
    rows = selectors.components_near_eol(now=now)
    assert [(row.component.pk, row.cycle, row.reached, row.planned) for row in rows] == [(old.pk, "13", False, False)]
    assert fine.pk not in {row.component.pk for row in rows}
    result = gates.get("maintenance").evaluate(now=now)
    statuses = {row.key: row.status for row in result.evidence}
    assert statuses["eol:ledger:postgresql"] == GateStatus.AT_RISK
    assert statuses.get("eol:other:postgresql") is None
    assert selectors.components_near_eol(now=utc(2025, 12, 1))[0].reached
    plan = services.create_upgrade_plan(
        component=old, target_version="17.2", owner=personas[DEVOPS_LEAD], due_date=date(2025, 10, 1)
    )
    with pytest.raises(DomainError):
        services.approve_upgrade_plan(plan=plan, user=personas[DEVOPS_LEAD])
    services.approve_upgrade_plan(plan=plan, user=personas[TECH_LEAD])
    statuses = {row.key: row.status for row in gates.get("maintenance").evaluate(now=now).evidence}
    assert statuses["eol:ledger:postgresql"] == GateStatus.PASS
