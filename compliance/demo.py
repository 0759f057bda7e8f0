"""Demo compliance records for `manage.py seed_demo` (idempotent).

The built-in framework with one key control per step bound to its gate (and two to the live
evidence of monitoring and incidents), one internal audit of last quarter with test results and
three findings (one overdue), two exceptions (one expiring within 30 days) and two evidence files.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, TextIO

from dateutil.relativedelta import relativedelta
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from . import builtin, regulatory, services
from .models import Audit, Control, EvidenceBinding, TestMethod, TestOutcome

AUDIT_TITLE = "Demo: internal audit of last quarter"


def _quarter_before(today: date) -> tuple[date, date]:
    start_this = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    start = start_this - relativedelta(months=3)
    return start, start_this - timedelta(days=1)


def seed(*, stdout: TextIO | Any) -> None:
    if Audit.objects.filter(title=AUDIT_TITLE).exists():
        stdout.write("Demo compliance records already present; skipped.\n")
        return
    users = {
        user.username: user
        for user in get_user_model().objects.filter(username__in=["compliance-officer", "sre-lead", "devops-lead"])
    }
    if len(users) != 3:
        stdout.write("No demo users; no demo compliance records created.\n")
        return
    officer, sre, devops = users["compliance-officer"], users["sre-lead"], users["devops-lead"]
    framework = builtin.install_builtin(bind_gates=True).framework
    EvidenceBinding.objects.get_or_create(
        control=Control.objects.get(ref_id="OPS-1"), provider="monitoring.runbook_reviewed", scope=""
    )
    EvidenceBinding.objects.get_or_create(
        control=Control.objects.get(ref_id="OPS-2"), provider="incidents.review_published", scope=""
    )
    controls = {control.ref_id: control for control in Control.objects.filter(ref_id__startswith="OPS-")}
    for control in controls.values():
        control.owner = officer
        control.save(update_fields=["owner", "updated_at"])

    now = timezone.now()
    start, end = _quarter_before(now.date())
    audit = services.audit_create(
        title=AUDIT_TITLE, framework=framework, period_start=start, period_end=end, lead_auditor=officer
    )
    for ref, method, result in (
        ("OPS-1", TestMethod.INSPECTION, TestOutcome.PASSED),
        ("OPS-2", TestMethod.REPERFORMANCE, TestOutcome.PASSED),
        ("OPS-8", TestMethod.REPERFORMANCE, TestOutcome.FAILED),
    ):
        services.test_result_record(
            audit=audit, control=controls[ref], method=method, result=result, tested_by=officer, sample="3 of 12"
        )
    overdue = services.finding_record(
        title="Restore test not recorded for the payments database",
        severity="high",
        audit=audit,
        control=controls["OPS-8"],
        owner=devops,
        now=now - timedelta(days=45),
    )
    services.remediation_step_add(
        finding=overdue, description="Run and record a restore test", owner=devops, due_on=now.date()
    )
    services.finding_record(
        title="Two runbooks past their review date",
        severity="medium",
        audit=audit,
        control=controls["OPS-1"],
        owner=sre,
    )
    services.finding_record(
        title="On-call handover notes incomplete", severity="low", audit=audit, control=controls["OPS-2"], owner=sre
    )

    soon = services.exception_request(
        title="Legacy reporting DB: no quarterly restore test",
        justification="The database is retired next month.",
        compensating_control="Nightly logical dumps are checked by the DBA.",
        approver=officer,
        requested_by=devops,
        control=controls["OPS-8"],
        expires_at=now + timedelta(days=20),
    )
    services.exception_approve(exception=soon, actor=officer)
    later = services.exception_request(
        title="Support tooling: SLA reports monthly instead of weekly",
        justification="The new help desk ships next quarter.",
        compensating_control="The support lead reviews breaches every week by hand.",
        approver=officer,
        requested_by=sre,
        control=controls["OPS-7"],
        expires_at=now + timedelta(days=200),
    )
    services.exception_approve(exception=later, actor=officer)

    for ref, name, text in (
        ("OPS-8", "restic-check.log", b"restic check: no errors were found\n"),
        ("OPS-6", "compliance-policy.txt", b"Compliance policy v3, approved by the executive sponsor.\n"),
    ):
        upload = ContentFile(text, name=name)
        evidence = services.evidence_upload(
            control=controls[ref],
            upload=upload,
            title=name,
            effective_date=now.date() - timedelta(days=7),
            uploaded_by=devops,
        )
        services.evidence_submit(evidence=evidence, actor=devops)
        services.evidence_review(evidence=evidence, actor=officer, approve=True)
    change = regulatory.change_create(
        title="Incident reporting within 24 hours",
        source="National regulator, resilience guidance (our summary)",
        summary="Major incidents affecting customers are reported to the regulator within 24 hours.",
        effective_date=now.date() + timedelta(days=90),
        impact_assessment="The incident runbook and the on-call handover need a reporting step.",
        affected_controls=[controls["OPS-1"]],
        actor=officer,
    )
    regulatory.task_add(
        change=change,
        description="Add the regulator report to the major-incident runbook",
        owner=sre,
        due_on=now.date() + timedelta(days=30),
        actor=officer,
    )
    stdout.write(
        "Demo compliance: built-in framework, 1 audit, 3 findings, 2 exceptions, 2 evidence files, "
        "1 regulatory change.\n"
    )
