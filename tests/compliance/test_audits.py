"""Audits with test results, findings with SLA and four-eyes verification, exceptions, OSCAL, the package."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied, SuspiciousFileOperation, ValidationError
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from trestle.oscal.assessment_results import AssessmentResults

from compliance import oscal, selectors, services
from compliance.importers import import_oscal_catalog
from compliance.models import (
    Audit,
    Control,
    EvidenceBinding,
    Finding,
    FindingStatus,
    Requirement,
    TestMethod,
    TestOutcome,
)
from compliance.package import (
    CHUNK,
    FLUSH_AT,
    PackageFile,
    audit_package,
    local_reader,
    stream_zip,
    verify_package,
)
from compliance.selectors import audit_calendar, expired_exceptions_relied_on, expiring_exceptions
from opsgov.models import GateEvaluation, GateStatus

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)  # a Monday


@pytest.fixture
def audited(catalog_bytes: bytes, officer: User) -> tuple[Audit, Control]:
    framework = import_oscal_catalog(catalog_bytes).framework
    control = Control.objects.create(ref_id="BK-1", title="Backups verified", is_key=True, test_frequency="quarterly")
    control.requirements.add(Requirement.objects.get(framework=framework, ref_id="bk-1"))
    audit = services.audit_create(
        title="Q1 internal audit",
        framework=framework,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 3, 31),
        lead_auditor=officer,
    )
    return audit, control


def test_a_finding_is_due_by_the_policy_sla_and_verified_only_by_another_person(
    audited: tuple[Audit, Control], officer: User, second_officer: User
) -> None:
    audit, control = audited
    finding = services.finding_record(
        title="Restore test overdue", severity="critical", audit=audit, control=control, now=NOW
    )
    assert finding.due_at == NOW + timedelta(days=15)  # critical: 15 days (calendar days) by default
    with pytest.raises(ValidationError, match="Plan the remediation"):
        services.finding_advance(finding=finding, to=FindingStatus.PLANNED, actor=officer)
    services.remediation_step_add(finding=finding, description="Run a restore", owner=officer, due_on=date(2026, 6, 10))
    for status in (FindingStatus.PLANNED, FindingStatus.IN_PROGRESS, FindingStatus.REMEDIATED):
        finding = services.finding_advance(finding=finding, to=status, actor=officer, now=NOW)
    assert finding.remediated_by == officer
    with pytest.raises(PermissionDenied):
        services.finding_advance(finding=finding, to=FindingStatus.VERIFIED, actor=officer)
    finding = services.finding_advance(finding=finding, to=FindingStatus.VERIFIED, actor=second_officer, now=NOW)
    finding = services.finding_advance(finding=finding, to=FindingStatus.CLOSED, actor=second_officer, now=NOW)
    assert (finding.verified_by, finding.status) == (second_officer, FindingStatus.CLOSED)
    with pytest.raises(ValidationError):
        services.finding_advance(finding=finding, to=FindingStatus.PLANNED, actor=officer)


def test_the_audit_calendar_follows_each_controls_test_frequency(audited: tuple[Audit, Control], officer: User) -> None:
    audit, control = audited
    services.test_result_record(
        audit=audit,
        control=control,
        method=TestMethod.INSPECTION,
        result=TestOutcome.PASSED,
        tested_by=officer,
        now=NOW,
    )
    [(row_control, last, due)] = audit_calendar([control])
    assert row_control == control and last is not None and due == date(2026, 9, 1)


def test_exceptions_need_an_approver_role_four_eyes_and_at_most_a_year(
    audited: tuple[Audit, Control], officer: User, second_officer: User, make_user: object
) -> None:
    _audit, control = audited
    args: dict[str, Any] = {
        "title": "No restore test for legacy DB",
        "justification": "Being retired",
        "compensating_control": "Daily dumps",
        "control": control,
    }
    with pytest.raises(ValidationError) as caught:
        services.exception_request(
            **args, approver=officer, requested_by=officer, expires_at=NOW + timedelta(days=400), now=NOW
        )
    assert set(caught.value.message_dict) == {"approver", "expires_at"}
    Group.objects.get_or_create(name="CISO")
    ciso = make_user("ciso", "CISO")  # type: ignore[operator]
    exception = services.exception_request(
        **args, approver=ciso, requested_by=officer, expires_at=NOW + timedelta(days=20), now=NOW
    )
    assert exception.approver_role == "CISO" and exception.state_at(NOW) == "pending"
    with pytest.raises(PermissionDenied):
        services.exception_approve(exception=exception, actor=second_officer, now=NOW)
    services.exception_approve(exception=exception, actor=ciso, now=NOW)
    exception.refresh_from_db()
    assert exception.state_at(NOW) == "active"
    assert list(expiring_exceptions(NOW)) == [exception]
    later = NOW + timedelta(days=21)
    assert exception.state_at(later) == "expired"
    # Expired, the control still has no current evidence: it is still relied on.
    assert expired_exceptions_relied_on(later) == [exception]


def test_the_oscal_export_validates_with_trestle_and_carries_results_and_findings(
    audited: tuple[Audit, Control], officer: User
) -> None:
    audit, control = audited
    services.test_result_record(
        audit=audit,
        control=control,
        method=TestMethod.REPERFORMANCE,
        result=TestOutcome.FAILED,
        tested_by=officer,
        sample="3 of 12",
        now=NOW,
    )
    services.finding_record(title="Restore test overdue", severity="high", audit=audit, control=control, now=NOW)
    document = json.loads(oscal.export_json(audit, now=NOW))
    model = AssessmentResults.model_validate(document["assessment-results"])
    [result] = model.results
    selection = result.reviewed_controls.control_selections[0]
    assert [item.control_id for item in getattr(selection, "include_controls", None) or []] == ["bk-1"]
    assert result.observations is not None and result.observations[0].methods == ["TEST"]
    assert result.findings is not None and result.findings[0].target.status.state.value == "not-satisfied"  # type: ignore[union-attr]
    # Reproducible: the same audit exports the same uuids.
    assert json.loads(oscal.export_json(audit, now=NOW)) == document


def test_importing_the_fixture_assessment_results_creates_the_not_satisfied_finding_once(results_bytes: bytes) -> None:
    created = oscal.import_assessment_results(results_bytes, now=NOW).created
    assert [item.title for item in created] == ["Restore test overdue"]
    assert str(created[0].oscal_uuid) == "f3a2b1c0-6d5e-4f7a-9b8c-2e3d4c5b6a7f"
    again = oscal.import_assessment_results(results_bytes, now=NOW)
    assert (again.created, again.unchanged) == ([], 1)
    assert Finding.objects.count() == 1


def test_the_evidence_package_streams_a_zip_whose_manifest_checks_out(
    audited: tuple[Audit, Control], officer: User, second_officer: User
) -> None:
    audit, control = audited
    evidence = services.evidence_upload(
        control=control,
        # Incompressible, larger than a piece of the stream: the package is handed on in several pieces.
        upload=SimpleUploadedFile("check.log", os.urandom(3 * FLUSH_AT)),
        title="restic check log",
        effective_date=date(2026, 5, 30),
        uploaded_by=officer,
    )
    services.evidence_submit(evidence=evidence, actor=officer)
    services.evidence_review(evidence=evidence, actor=second_officer, approve=True, now=NOW)
    EvidenceBinding.objects.create(control=control, provider="gate", scope="backup_dr")
    GateEvaluation.objects.create(
        gate="backup_dr",
        status=GateStatus.PASS,
        reason="ok",
        evaluated_at=NOW - timedelta(hours=2),
        evidence=[{"key": "x", "label": "x", "status": "pass"}],
    )
    chunks = list(audit_package(audit, now=NOW))
    assert len(chunks) > 1  # streamed, not built whole: pieces of FLUSH_AT bytes or more, at most a read chunk more
    assert all(FLUSH_AT <= len(chunk) <= FLUSH_AT + CHUNK + 1024 for chunk in chunks[:-1])
    data = b"".join(chunks)
    assert verify_package(io.BytesIO(data)) == []
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
    [row] = manifest["files"]
    assert row["sha256"] == evidence.sha256 and row["control"] == "BK-1" and row["effective_date"] == "2026-05-30"
    [entry] = manifest["controls"]
    assert entry["current"] is True and entry["live_evidence"][0]["state"] == "current"
    # A tampered member no longer checks out.
    tampered = data.replace(b"manifest", b"manifest", 1)
    broken = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(tampered)) as source, zipfile.ZipFile(broken, "w") as target:
        for info in source.infolist():
            content = source.read(info.filename)
            target.writestr(info.filename, content + b"x" if info.filename.startswith("evidence/") else content)
    assert verify_package(io.BytesIO(broken.getvalue())) != []


def _pieces(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def test_the_stream_writer_makes_a_zip64_archive_zipfile_reads_with_every_member_and_hash() -> None:
    contents = {
        "empty.txt": b"",
        "small.txt": b"restic check: no errors\n",
        "random.bin": os.urandom(CHUNK + 5),  # more than a read chunk, incompressible
        "été/naïve.txt": b"x" * 300_000,  # a UTF-8 name
        **{f"many/{n}.txt": f"evidence {n}\n".encode() for n in range(300)},
    }
    files = [PackageFile(arcname=name, chunks=partial(_pieces, data), entry={}) for name, data in contents.items()]
    data = b"".join(stream_zip(files, {"audit": "t", "controls": [{"control": "C-1"}]}))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None  # every member's CRC-32 checks out
        assert archive.namelist() == [*contents, "manifest.json"]
        assert {name: archive.read(name) for name in contents} == contents
        manifest = json.loads(archive.read("manifest.json"))
        # Deflated as zipfile deflates: the same compressed size as zipfile's own ZIP_DEFLATED.
        reference = io.BytesIO()
        with zipfile.ZipFile(reference, "w", zipfile.ZIP_DEFLATED) as other:
            other.writestr("été/naïve.txt", contents["été/naïve.txt"])
        assert archive.getinfo("été/naïve.txt").compress_size == zipfile.ZipFile(reference).infolist()[0].compress_size
    assert manifest["controls"] == [{"control": "C-1"}]
    assert [(row["path"], row["size"]) for row in manifest["files"][:3]] == [
        ("empty.txt", 0),
        ("small.txt", 24),
        ("random.bin", CHUNK + 5),
    ]
    assert manifest["files"][1]["sha256"] == hashlib.sha256(b"restic check: no errors\n").hexdigest()
    assert verify_package(io.BytesIO(data)) == []


def test_the_package_reads_no_file_outside_the_media_folder(settings: Any, tmp_path: Any) -> None:
    read = local_reader(FileSystemStorage(location=tmp_path / "media"))
    (tmp_path / "secret.txt").write_bytes(b"secret")
    for name in ("../secret.txt", "a/../../secret.txt", str(tmp_path / "secret.txt")):
        with pytest.raises(SuspiciousFileOperation):
            list(read(name))


def test_the_calendar_lists_next_due_tests_overdue_first_in_words(
    audited: tuple[Audit, Control], officer: User, client: Any
) -> None:
    audit, quarterly = audited
    services.test_result_record(
        audit=audit,
        control=quarterly,
        method=TestMethod.INSPECTION,
        result=TestOutcome.PASSED,
        tested_by=officer,
        now=NOW - timedelta(days=120),
    )
    monthly = Control.objects.create(ref_id="MON-1", title="Monthly access review", test_frequency="monthly")
    Control.objects.filter(pk=monthly.pk).update(created_at=NOW - timedelta(days=10))
    entries = selectors.calendar(now=NOW)
    assert [entry.control.ref_id for entry in entries] == ["BK-1", "MON-1"]
    late, soon = entries
    # Tested 2026-02-01 (120 days before 1 June), quarterly: due 2026-05-01, 31 days ago; then every quarter.
    assert late.due == [date(2026, 5, 1), date(2026, 8, 1), date(2026, 11, 1), date(2027, 2, 1), date(2027, 5, 1)]
    assert (late.state, late.words) == ("overdue", "Overdue by 31 days")
    # Created 22 May, monthly: due 22 June, in 21 days, then the 22nd of each month up to 1 June 2027.
    assert soon.next_due == date(2026, 6, 22) and len(soon.due) == 12
    assert (soon.state, soon.words) == ("due_soon", "Due in 21 days")
    User.objects.filter(pk=officer.pk).update(is_staff=True)
    client.force_login(officer)
    with time_machine.travel(NOW, tick=False):
        page = client.get(reverse("compliance-calendar")).content.decode()
    assert '<tr class="calendar-overdue">' in page and "Overdue by" in page and "badge-danger" in page
    assert "1 of 2 controls overdue" in page
    with time_machine.travel(NOW, tick=False):
        admin_page = client.get(reverse("admin:compliance_control_calendar")).content.decode()
    assert "BK-1 Backups verified" in admin_page and "calendar-due_soon" in admin_page
    outsider = User.objects.create_user("nobody")
    client.force_login(outsider)
    assert client.get(reverse("compliance-calendar")).status_code == 403
