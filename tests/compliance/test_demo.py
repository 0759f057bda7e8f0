"""compliance.demo through `manage.py seed_demo`: the built-in framework bound to live evidence, an audit
of last quarter with three findings (one overdue), two exceptions (one expiring soon), evidence files."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from compliance.models import Audit, ComplianceException, EvidenceBinding, EvidenceFile, Finding
from compliance.selectors import expiring_exceptions, overdue_findings
from opsgov.models import GateEvaluation

pytestmark = pytest.mark.django_db


def test_seed_demo_adds_the_compliance_records_once() -> None:
    out = io.StringIO()
    call_command("seed_demo", allow_without_debug=True, stdout=out)
    assert "Demo compliance:" in out.getvalue()
    now = timezone.now()
    assert Audit.objects.count() == 1
    assert Finding.objects.count() == 3 and overdue_findings(now).count() == 1
    assert ComplianceException.objects.count() == 2 and expiring_exceptions(now).count() == 1
    assert EvidenceFile.objects.filter(state="approved").count() == 2
    assert {"gate", "monitoring.runbook_reviewed", "incidents.review_published"} <= set(
        EvidenceBinding.objects.values_list("provider", flat=True)
    )
    assert GateEvaluation.objects.filter(gate="compliance").exists()
    call_command("seed_demo", allow_without_debug=True, stdout=io.StringIO())
    assert Finding.objects.count() == 3 and Audit.objects.count() == 1
