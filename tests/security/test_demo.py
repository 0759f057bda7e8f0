"""`seed_demo`'s security records: three months of scans, the two criticals, an accepted risk; idempotent."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from incidents.models import RawEvent
from opsgov.models import GateStatus
from opsgov.registry import gates
from security.models import Finding, FindingStatus, RiskAcceptance, Scan, SecurityAlert
from security.selectors import overdue

pytestmark = pytest.mark.django_db


def test_seed_demo_security() -> None:
    call_command("seed_demo", allow_without_debug=True, stdout=io.StringIO())
    scans = Scan.objects.count()
    findings = list(Finding.objects.order_by("pk").values())
    now = timezone.now()
    xz = Finding.objects.get(vulnerability_id="CVE-2024-3094")
    assert xz.status == FindingStatus.FIXED
    assert xz.fixed_at is not None and xz.due_at is not None and xz.fixed_at <= xz.due_at
    assert xz.fixed_at - xz.first_seen_at == timedelta(days=1)
    zlib = Finding.objects.get(vulnerability_id="CVE-2023-45853")
    assert zlib.status == FindingStatus.OPEN and zlib.due_at is not None and zlib.due_at < now
    accepted = RiskAcceptance.objects.get()
    assert accepted.state_at(now) == "active"
    assert accepted.approver != accepted.requested_by
    assert [f.vulnerability_id for f in overdue(Finding.objects.all(), now)] == ["CVE-2023-45853"]
    oldest = Scan.objects.order_by("imported_at").first()
    assert oldest is not None and now - oldest.imported_at > timedelta(days=90)
    alert = SecurityAlert.objects.get()
    assert (alert.disposition, alert.escalation_key) == ("true_positive", f"security-alert:{alert.pk}")
    assert RawEvent.objects.filter(dedup_key=alert.escalation_key).exists()  # the incident's raw event
    result = gates.get("security_operations").evaluate(now=now)
    failing = [row.key for row in result.evidence if row.status == GateStatus.FAIL]
    assert failing == ["vuln-sla:payments-ledger"]
    call_command("seed_demo", allow_without_debug=True, stdout=io.StringIO())
    assert Scan.objects.count() == scans
    assert list(Finding.objects.order_by("pk").values()) == findings
