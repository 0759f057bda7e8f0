"""The "Compliance monitoring active" gate and the compliance metrics, against hand-computed figures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import CommandError

from compliance import builtin, services
from compliance.gates import ComplianceGate
from compliance.metrics import compute_coverage, compute_currency, compute_expiring, compute_overdue
from compliance.models import Control, Requirement
from opsgov.models import DeliveryStatus, GateEvaluation, GateStatus, ReportDelivery, ReportKind

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _statuses(now: datetime = NOW) -> dict[str, str]:
    return {row.key: row.status for row in ComplianceGate().evaluate(now=now).evidence}


def _all_gates_pass(at: datetime) -> None:
    for _step, _title, gate, _role, _reqs in builtin.STEPS:
        GateEvaluation.objects.create(
            gate=gate, status=GateStatus.PASS, reason="ok", evaluated_at=at, evidence=[{"key": "k", "status": "pass"}]
        )


def _healthy(officer: User) -> None:
    framework = builtin.install_builtin(bind_gates=True).framework
    _all_gates_pass(NOW - timedelta(hours=1))
    services.audit_create(
        title="2026 H1 internal audit",
        framework=framework,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 3, 31),
        lead_auditor=officer,
    )
    ReportDelivery.objects.create(
        kind=ReportKind.MONTHLY,
        period_start=date(2026, 5, 1),
        period_end=date(2026, 6, 1),
        user=officer,
        email=officer.email,
        status=DeliveryStatus.SENT,
        sent_at=NOW - timedelta(hours=5),
    )


def test_without_an_active_framework_the_gate_has_no_evidence() -> None:
    assert ComplianceGate().evaluate(now=NOW).status == GateStatus.NO_EVIDENCE


def test_the_gate_passes_when_every_criterion_holds_and_moves_with_the_records(officer: User) -> None:
    _healthy(officer)
    result = ComplianceGate().evaluate(now=NOW)
    assert result.status == GateStatus.PASS, result.reason
    assert _statuses()["coverage:opsgov-operations-1"] == GateStatus.PASS
    assert _statuses()["evidence:OPS-6"] == GateStatus.PASS
    # Three days on, the gate evaluations bound as live evidence are stale (policy: 2 days): key controls fail.
    later = ComplianceGate().evaluate(now=NOW + timedelta(days=3))
    assert later.status == GateStatus.FAIL and "key control(s) without current evidence" in later.reason
    # A critical finding past its due date fails the gate; a high one puts it at risk.
    finding = services.finding_record(title="No restore test", severity="critical", now=NOW - timedelta(days=16))
    assert _statuses()[f"finding-overdue:{finding.pk}"] == GateStatus.FAIL
    assert ComplianceGate().evaluate(now=NOW).status == GateStatus.FAIL


def test_coverage_below_the_policy_share_fails(officer: User) -> None:
    _healthy(officer)
    control = Control.objects.get(ref_id="OPS-8")
    control.requirements.clear()  # 4 of 29 assessable requirements lose their control: 25/29 = 86 % still passes
    assert _statuses()["coverage:opsgov-operations-1"] == GateStatus.PASS
    Control.objects.get(ref_id="OPS-7").requirements.clear()  # 3 more: 22/29 = 76 % < 80 %
    assert _statuses()["coverage:opsgov-operations-1"] == GateStatus.FAIL


def test_the_metrics_match_hand_computed_values(officer: User, second_officer: User) -> None:
    _healthy(officer)
    framework_scope = "framework:opsgov-operations-1"
    assessable = Requirement.objects.filter(framework__slug="opsgov-operations", assessable=True).count()
    assert assessable == 29  # 21 tasks and deliverables + 8 approvals
    Control.objects.get(ref_id="OPS-8").requirements.clear()
    coverage = {value.scope: value for value in compute_coverage(now=NOW)}
    assert coverage[framework_scope].value == pytest.approx(100 * 25 / 29)
    # OPS-8 is no longer mapped, so 7 controls; make OPS-1's gate evaluation fail: 6 of 7 current.
    GateEvaluation.objects.create(gate="monitoring", status=GateStatus.FAIL, reason="x", evaluated_at=NOW)
    currency = {value.scope: value for value in compute_currency(now=NOW)}
    assert currency[framework_scope].value == pytest.approx(100 * 6 / 7)
    assert currency[framework_scope].sample_size == 7
    services.finding_record(title="a", severity="low", now=NOW - timedelta(days=200))
    services.finding_record(title="b", severity="low", now=NOW)
    assert [value.value for value in compute_overdue(now=NOW)] == [1.0]

    Group.objects.get_or_create(name="Legal")
    legal = User.objects.create(username="legal", email="legal@example.com")
    legal.groups.add(Group.objects.get(name="Legal"))
    soon = services.exception_request(
        title="soon",
        justification="j",
        compensating_control="c",
        approver=legal,
        requested_by=officer,
        control=Control.objects.get(ref_id="OPS-1"),
        expires_at=NOW + timedelta(days=10),
        now=NOW,
    )
    services.exception_approve(exception=soon, actor=legal, now=NOW)
    later = services.exception_request(
        title="later",
        justification="j",
        compensating_control="c",
        approver=legal,
        requested_by=officer,
        control=Control.objects.get(ref_id="OPS-1"),
        expires_at=NOW + timedelta(days=90),
        now=NOW,
    )
    services.exception_approve(exception=later, actor=legal, now=NOW)
    assert [value.value for value in compute_expiring(now=NOW)] == [1.0]


def test_the_import_command_reports_path_errors(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:

    bad = Path(str(tmp_path)) / "bad.yaml"
    bad.write_text("urn: x\nref_id: x\nname: x\nversion: 1\nrequirement_nodes:\n  - urn: a\n    ref_id: a\n")

    with pytest.raises(CommandError, match=r"library.requirement_nodes\[0\].name: Field required"):
        call_command("import_framework", str(bad))
    call_command("import_framework", "--builtin")
    assert "Imported: opsgov operations governance" in capsys.readouterr().out
