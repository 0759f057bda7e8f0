"""backups.demo: 90 days of runs with failures and a missed streak, restore tests and drills, added once;
the gate and the metric then show a realistic, not perfect, state."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth.models import User

from backups import demo
from backups.metrics import compute_success_rate
from backups.models import BackupJob, BackupRun, DRDrill, RestoreTest, RunStatus
from incidents.models import ActionItem
from opsgov.models import GateStatus
from opsgov.registry import gates
from opsgov.roles import COMPLIANCE_OFFICER, SECURITY_LEAD, SRE_LEAD
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

SLUGS = ("checkout", "payments-ledger", "auth", "api-gateway", "web-frontend", "reporting")
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def test_the_demo_shows_a_realistic_state_and_is_added_once(make_user: Callable[..., User]) -> None:
    for role in (SRE_LEAD, SECURITY_LEAD, COMPLIANCE_OFFICER):
        make_user(role.lower().replace(" ", "-"), role)
    for slug in SLUGS:
        ServiceFactory.create(slug=slug)
    with time_machine.travel(NOW, tick=False):
        out = io.StringIO()
        demo.seed(stdout=out)
        assert "Demo backups: 7 jobs" in out.getvalue()
        checkout = BackupJob.objects.get(name=demo.MARKER)
        assert checkout.runs.filter(status=RunStatus.MISSED).count() == 3
        assert BackupRun.objects.filter(status=RunStatus.FAILED).exists()
        assert BackupRun.objects.count() > 6_000  # three hourly jobs over 90 days, and the daily ones
        tests = {test.job.name: test.met_targets for test in RestoreTest.objects.select_related("job")}
        assert tests == {demo.MARKER: True, "web frontend (Velero)": False}
        assert DRDrill.objects.count() == 2
        validated = DRDrill.objects.get(service__slug="checkout")
        assert validated.owner is not None and validated.owner.username == "sre-lead"
        assert sorted(validated.approvals.values_list("kind", "approver__username")) == [
            ("compliance", "compliance-officer"),
            ("data_protection", "security-lead"),
        ]
        assert ActionItem.objects.filter(source_key__startswith="improvement:dr-drill:").count() == 2

        values = {value.scope: value for value in compute_success_rate(window="30d", now=NOW)}
        rate = values[f"job:{checkout.pk}"]
        assert rate.value is not None and 90 < rate.value < 100  # the missed streak and a few failures
        assert values["global"].value is not None and values["global"].value < 100

        result = gates.get("backup_dr").evaluate(now=NOW)
        rows = {row.key: row for row in result.evidence}
        assert result.status == GateStatus.FAIL
        assert rows["drill:checkout"].status == GateStatus.PASS
        assert rows["drill:auth"].status == GateStatus.FAIL  # overdue
        assert rows["restore:checkout:database"].status == GateStatus.PASS
        assert rows["restore:web-frontend:application"].status == GateStatus.FAIL  # missed its RTO

        again = io.StringIO()
        demo.seed(stdout=again)
        assert "already present" in again.getvalue()
        assert BackupJob.objects.count() == 7
