"""Writes of the compliance area: evidence files and their review, audits and test results,
findings and their remediation, exceptions.

Every function takes keyword arguments, validates before writing (ValidationError with field
names, PermissionDenied for who may not), runs in one transaction, and is audited (auditlog,
registered in compliance.apps).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import File
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from opsgov import exceptions
from opsgov.models import Service
from opsgov.policy import get_policy
from opsgov.sla import due_at, policy_calendar

from .models import (
    Audit,
    AuditKind,
    AuditStatus,
    ComplianceException,
    Control,
    ControlEvidenceSnapshot,
    EvidenceFile,
    Finding,
    FindingStatus,
    Framework,
    RemediationStep,
    Requirement,
    ReviewState,
    Severity,
    TestResult,
)
from .selectors import active_controls, control_evidence

# --- Evidence snapshots (what the status report reads) -------------------------------------


@transaction.atomic
def evidence_snapshots_refresh(*, controls: QuerySet[Control] | None = None, now: datetime | None = None) -> int:
    """Recompute the evidence snapshot of `controls` (default: every control that is not retired) as of `now`.

    The same computation as a fresh read (compliance.selectors.control_evidence: each provider and scope
    read once, current files counted in one query), stored in one upsert. Returns the number of controls.
    """
    now = now or timezone.now()
    scope = active_controls() if controls is None else controls.prefetch_related(None).order_by("pk")
    rows = [
        ControlEvidenceSnapshot(
            control=item.control,
            is_current=item.is_current,
            file_count=item.file_count,
            readings=[[binding.provider, str(reading.freshness)] for binding, reading in item.readings],
            computed_at=now,
        )
        for item in control_evidence(scope, now=now, with_files=False)
    ]
    ControlEvidenceSnapshot.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["control"],
        update_fields=["is_current", "file_count", "readings", "computed_at", "updated_at"],
    )
    return len(rows)


def evidence_snapshot_refresh_control(*, control_id: int) -> None:
    """Refresh one control's snapshot (after a change to it, its bindings or its files: the receivers
    in compliance.snapshots call this inside the change's own transaction)."""
    evidence_snapshots_refresh(controls=Control.objects.filter(pk=control_id))


# --- Evidence files -----------------------------------------------------------------------

CHUNK = 64 * 1024


def _extension(name: str) -> str:
    return PurePath(name).suffix.lower().lstrip(".")


@transaction.atomic
def evidence_upload(
    *,
    control: Control,
    upload: File,
    title: str,
    effective_date: date,
    uploaded_by: Any,
    expires_on: date | None = None,
    previous: EvidenceFile | None = None,
) -> EvidenceFile:
    """Store a file as evidence for `control` (a draft), hashing it as it is read; a new revision of `previous`."""
    policy = get_policy().compliance
    name = PurePath(upload.name or "evidence").name
    errors: dict[str, list[str]] = {}
    if _extension(name) not in policy.evidence_allowed_types:
        errors.setdefault("file", []).append(
            f"Files of type {_extension(name) or '(none)'!r} are not accepted; allowed: "
            f"{', '.join(policy.evidence_allowed_types)}."
        )
    if upload.size is None or upload.size > policy.evidence_max_upload_bytes:
        errors.setdefault("file", []).append(f"A file may be at most {policy.evidence_max_upload_bytes} bytes.")
    if previous is not None and previous.control_id != control.pk:
        errors.setdefault("previous", []).append("A revision belongs to the same control as the file it replaces.")
    if previous is not None and EvidenceFile.objects.filter(previous=previous).exists():
        errors.setdefault("previous", []).append("This file already has a newer revision; revise that one.")
    if errors:
        raise ValidationError(errors)
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks(CHUNK):
        digest.update(chunk)
    upload.seek(0)
    evidence = EvidenceFile(
        control=control,
        title=title.strip() or name,
        original_name=name[:255],
        # Stored and served as an opaque download whatever the browser said it was.
        content_type="application/octet-stream",
        size=upload.size,
        sha256=digest.hexdigest(),
        effective_date=effective_date,
        expires_on=expires_on,
        uploaded_by=uploaded_by,
        previous=previous,
        revision=(previous.revision + 1) if previous is not None else 1,
    )
    evidence.file.save(name, upload, save=False)
    evidence.full_clean()
    evidence.save()
    return evidence


def _locked_evidence(evidence: EvidenceFile) -> EvidenceFile:
    return EvidenceFile.objects.select_for_update().get(pk=evidence.pk)


@transaction.atomic
def evidence_submit(*, evidence: EvidenceFile, actor: Any) -> EvidenceFile:
    evidence = _locked_evidence(evidence)
    if evidence.state not in (ReviewState.DRAFT, ReviewState.REJECTED):
        raise ValidationError({"state": f"Only a draft or rejected file goes to review; this one is {evidence.state}."})
    evidence.state = ReviewState.IN_REVIEW
    evidence.save(update_fields=["state", "updated_at"])
    return evidence


@transaction.atomic
def evidence_review(
    *, evidence: EvidenceFile, actor: Any, approve: bool, note: str = "", now: datetime | None = None
) -> EvidenceFile:
    """Approve or reject a file in review; never by its uploader (four eyes)."""
    now = now or timezone.now()
    evidence = _locked_evidence(evidence)
    if not actor.has_perm("compliance.approve_evidencefile"):
        raise PermissionDenied("Approving evidence needs the compliance approve permission.")
    if actor.pk == evidence.uploaded_by_id:
        raise PermissionDenied("Nobody reviews a file they uploaded; ask another compliance officer.")
    if evidence.state != ReviewState.IN_REVIEW:
        raise ValidationError({"state": "Only a file in review can be approved or rejected."})
    evidence.state = ReviewState.APPROVED if approve else ReviewState.REJECTED
    evidence.reviewed_by = actor
    evidence.reviewed_at = now
    evidence.review_note = note.strip()
    evidence.full_clean()
    evidence.save(update_fields=["state", "reviewed_by", "reviewed_at", "review_note", "updated_at"])
    return evidence


# --- Audits ------------------------------------------------------------------------------


@transaction.atomic
def audit_create(
    *,
    title: str,
    framework: Framework,
    period_start: date,
    period_end: date,
    lead_auditor: Any,
    kind: str = AuditKind.INTERNAL,
    requirements: list[Requirement] | None = None,
    services: list[Service] | None = None,
) -> Audit:
    audit = Audit(
        title=title.strip(),
        framework=framework,
        period_start=period_start,
        period_end=period_end,
        lead_auditor=lead_auditor,
        kind=kind,
    )
    if period_start and period_end and period_start > period_end:
        raise ValidationError({"period_end": "The period ends on or after its start."})
    audit.full_clean()
    audit.save()
    if requirements:
        wrong = [item.ref_id for item in requirements if item.framework_id != framework.pk]
        if wrong:
            raise ValidationError({"requirements": f"Not requirements of {framework}: {', '.join(wrong)}."})
        audit.requirements.set(requirements)
    if services:
        audit.services.set(services)
    return audit


@transaction.atomic
def test_result_record(
    *,
    audit: Audit,
    control: Control,
    method: str,
    result: str,
    tested_by: Any,
    sample: str = "",
    notes: str = "",
    now: datetime | None = None,
) -> TestResult:
    """Record (or replace) the result of testing `control` in `audit`; the audit is then in progress."""
    now = now or timezone.now()
    audit = Audit.objects.select_for_update().get(pk=audit.pk)
    if audit.status == AuditStatus.COMPLETED:
        raise ValidationError({"audit": "This audit is completed; its results are final."})
    row = TestResult.objects.filter(audit=audit, control=control).first() or TestResult(audit=audit, control=control)
    row.method = method
    row.result = result
    row.sample = sample.strip()
    row.notes = notes.strip()
    row.tested_by = tested_by
    row.tested_at = now
    row.full_clean()
    row.save()
    if audit.status == AuditStatus.PLANNED:
        audit.status = AuditStatus.IN_PROGRESS
        audit.save(update_fields=["status", "updated_at"])
    return row


@transaction.atomic
def audit_complete(*, audit: Audit, now: datetime | None = None) -> Audit:
    audit = Audit.objects.select_for_update().get(pk=audit.pk)
    audit.status = AuditStatus.COMPLETED
    audit.completed_at = now or timezone.now()
    audit.save(update_fields=["status", "completed_at", "updated_at"])
    return audit


# --- Findings ----------------------------------------------------------------------------


def finding_due(severity: str, identified_at: datetime) -> datetime:
    """When a finding of `severity` recorded at `identified_at` is due (policy SLA on opsgov.sla's clock)."""
    target = get_policy().compliance.finding_sla[Severity(severity).value]  # type: ignore[index]
    return due_at(identified_at, target, calendar=policy_calendar())


@transaction.atomic
def finding_record(
    *,
    title: str,
    severity: str,
    audit: Audit | None = None,
    control: Control | None = None,
    description: str = "",
    owner: Any = None,
    now: datetime | None = None,
) -> Finding:
    now = now or timezone.now()
    if severity not in Severity.values:
        raise ValidationError({"severity": f"One of {', '.join(Severity.values)}."})
    finding = Finding(
        audit=audit,
        control=control,
        title=title.strip(),
        description=description.strip(),
        severity=severity,
        owner=owner,
        identified_at=now,
        due_at=finding_due(severity, now),
    )
    finding.full_clean()
    finding.save()
    return finding


# identified → planned → in progress → remediated → verified → closed
_NEXT = {
    FindingStatus.IDENTIFIED: FindingStatus.PLANNED,
    FindingStatus.PLANNED: FindingStatus.IN_PROGRESS,
    FindingStatus.IN_PROGRESS: FindingStatus.REMEDIATED,
    FindingStatus.REMEDIATED: FindingStatus.VERIFIED,
    FindingStatus.VERIFIED: FindingStatus.CLOSED,
}


@transaction.atomic
def finding_advance(*, finding: Finding, to: str, actor: Any, now: datetime | None = None) -> Finding:
    """Move a finding one status forward; "verified" only by someone other than the remediator."""
    now = now or timezone.now()
    finding = Finding.objects.select_for_update().get(pk=finding.pk)
    current = FindingStatus(finding.status)
    if _NEXT.get(current) != to:
        allowed = _NEXT.get(current)
        raise ValidationError(
            {"status": f"A {current.label.lower()} finding moves to {allowed.label.lower() if allowed else 'nothing'}."}
        )
    if to == FindingStatus.PLANNED and not finding.steps.exists():
        raise ValidationError({"status": "Plan the remediation first: add at least one step with an owner and date."})
    if to == FindingStatus.REMEDIATED:
        finding.remediated_by = actor
        finding.remediated_at = now
    if to == FindingStatus.VERIFIED:
        if actor.pk == finding.remediated_by_id:
            raise PermissionDenied("The remediation is verified by someone other than who remediated it.")
        finding.verified_by = actor
        finding.verified_at = now
    if to == FindingStatus.CLOSED:
        finding.closed_at = now
    finding.status = to
    finding.full_clean()
    finding.save()
    return finding


@transaction.atomic
def remediation_step_add(*, finding: Finding, description: str, owner: Any, due_on: date) -> RemediationStep:
    step = RemediationStep(finding=finding, description=description.strip(), owner=owner, due_on=due_on)
    step.full_clean()
    step.save()
    return step


# --- Exceptions ----------------------------------------------------------------------------


NOUN = "exception"


def approver_roles() -> list[str]:
    return list(get_policy().compliance.exception_approver_roles)


def approver_role_of(user: Any) -> str | None:
    """The first approver role `user` holds (policy order), or None."""
    return exceptions.approver_role(user, approver_roles())


@transaction.atomic
def exception_request(
    *,
    title: str,
    justification: str,
    compensating_control: str,
    approver: Any,
    expires_at: datetime,
    requested_by: Any,
    control: Control | None = None,
    requirement: Requirement | None = None,
    service: Service | None = None,
    now: datetime | None = None,
) -> ComplianceException:
    """Ask `approver` (a holder of an approver role, not the requester) to accept an exception until
    `expires_at` (opsgov.exceptions' rules, at most the policy's compliance.exception_max)."""
    now = now or timezone.now()
    errors = exceptions.request_errors(
        approver=approver,
        requested_by=requested_by,
        roles=approver_roles(),
        expires_at=expires_at,
        now=now,
        noun=NOUN,
        longest=get_policy().compliance.exception_max.approximate(business_day_hours=24),
    )
    if control is None and requirement is None and service is None:
        errors.setdefault("control", []).append("Name what the exception is for: a control, requirement or service.")
    if errors:
        raise ValidationError(errors)
    exception = ComplianceException(
        title=title.strip(),
        reason=justification.strip(),
        compensating_control=compensating_control.strip(),
        approver=approver,
        approver_role=approver_role_of(approver) or "",
        expires_at=expires_at,
        requested_by=requested_by,
        control=control,
        requirement=requirement,
        service=service,
        created_at=now,
    )
    exception.full_clean()
    exception.save()
    return exception


@transaction.atomic
def exception_approve(
    *, exception: ComplianceException, actor: Any, now: datetime | None = None
) -> ComplianceException:
    now = now or timezone.now()
    exception = ComplianceException.objects.select_for_update().get(pk=exception.pk)
    return exceptions.approve(exception, actor=actor, roles=approver_roles(), now=now, noun=NOUN)


def can_revoke(user: Any, exception: ComplianceException) -> bool:
    """The requester, the approver, or any holder of an approver role may revoke an open exception."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return user.pk in (exception.requested_by_id, exception.approver_id) or approver_role_of(user) is not None


@transaction.atomic
def exception_revoke(
    *, exception: ComplianceException, actor: Any, reason: str = "", now: datetime | None = None
) -> ComplianceException:
    now = now or timezone.now()
    exception = ComplianceException.objects.select_for_update().get(pk=exception.pk)
    if not can_revoke(actor, exception):
        raise PermissionDenied("Only the requester, the approver or a holder of an approver role can revoke.")
    exceptions.revoke(exception, actor=actor, reason=reason, now=now, noun=NOUN)
    return exception
