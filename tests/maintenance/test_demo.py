"""maintenance.demo through `manage.py seed_demo`: the records the issue asks for, added once."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from incidents.ingest.services import process_raw_event
from incidents.models import RawEvent
from maintenance import selectors
from maintenance.models import ChangeRecord, FreezePeriod, Host, MaintenanceWindow
from opsgov.models import GateStatus
from opsgov.registry import gates

pytestmark = pytest.mark.django_db


def test_the_demo_has_windows_a_freeze_changes_logs_and_twenty_hosts_at_92_percent() -> None:
    out = io.StringIO()
    call_command("seed_demo", allow_without_debug=True, stdout=out)
    assert "Demo maintenance:" in out.getvalue()
    assert MaintenanceWindow.objects.filter(approved_at__isnull=False).count() >= 5
    assert MaintenanceWindow.objects.filter(approved_at__isnull=True).count() == 1
    assert FreezePeriod.objects.count() == 1
    assert Host.objects.count() == 20
    now = timezone.now()
    figures = selectors.patch_compliance(start=now - timedelta(days=30), end=now)
    hosts = [row for row in figures if row.scope.startswith("host:")]
    assert len(hosts) == 20
    assert (sum(row.met for row in hosts), sum(row.counted for row in hosts)) == (92, 100)  # the 20 hosts: 92 %
    # The security demo's overdue critical joins as a security-critical obligation of its service, not met.
    security = [row for row in figures if row.scope.startswith("security:")]
    assert [(row.met, row.counted) for row in security] == [(0, 1)]
    overall = next(row for row in figures if row.scope == "global")
    assert (overall.met, overall.counted) == (92, 101)
    assert ChangeRecord.objects.filter(actual_start__lt=now - timedelta(days=80)).exists()  # three months
    # The incident after the failed deploy is raised through opsgov.events: a raw event the worker processes
    # after commit; processed here as the worker would.
    for event_id in RawEvent.objects.filter(processed_at__isnull=True).values_list("pk", flat=True):
        process_raw_event(event_id=event_id)
    failed = ChangeRecord.objects.get(outcome="failed")
    assert failed.incident_links.filter(incident_label__contains="after the 1.20.1 deploy").count() == 1
    assert ChangeRecord.objects.filter(outside_window=True, kind="normal").count() == 1
    result = gates.get("maintenance").evaluate(now=now)
    assert result.status == GateStatus.FAIL
    failing = {row.key for row in result.evidence if row.status == GateStatus.FAIL}
    assert "cadence:payments-ledger:database_maintenance" in failing
    assert "cadence:checkout:database_maintenance" not in failing
    again = io.StringIO()
    call_command("seed_demo", allow_without_debug=True, stdout=again)
    assert "Demo maintenance records already present" in again.getvalue()
    assert Host.objects.count() == 20
