"""Live evidence through the provider registry, and manual evidence files with review and expiry."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from compliance import services
from compliance.models import Control, EvidenceBinding, EvidenceFile, ReviewState
from compliance.selectors import control_evidence
from opsgov.evidence import EvidenceProtectedError
from opsgov.evidence_providers import Freshness, providers
from opsgov.models import GateEvaluation, GateStatus

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _control(ref: str = "C-1") -> Control:
    return Control.objects.create(ref_id=ref, title="Backups are tested", is_key=True)


def test_a_control_bound_to_a_gate_row_shows_its_record_and_goes_stale_by_itself() -> None:
    control = _control()
    EvidenceBinding.objects.create(control=control, provider="gate", scope="incident_management|escalation:checkout")
    GateEvaluation.objects.create(
        gate="incident_management",
        status=GateStatus.PASS,
        reason="ok",
        evaluated_at=NOW - timedelta(hours=1),
        evidence=[{"key": "escalation:checkout", "label": "Checkout covered", "status": "pass", "url": "/x/"}],
    )
    [item] = control_evidence(Control.objects.filter(pk=control.pk), now=NOW)
    [(_binding, reading)] = item.readings
    assert reading.freshness == Freshness.CURRENT and item.is_current
    assert reading.record is not None and reading.record.label == "Checkout covered" and reading.record.url == "/x/"
    assert reading.record.recorded_at == NOW - timedelta(hours=1)
    # The policy keeps a gate evaluation current for 2 days: three days on, nobody changed anything, it is stale.
    [later] = control_evidence(Control.objects.filter(pk=control.pk), now=NOW + timedelta(days=3))
    assert later.readings[0][1].freshness == Freshness.STALE and not later.is_current


def test_a_failing_gate_row_reads_as_failing_and_a_missing_one_as_missing() -> None:
    GateEvaluation.objects.create(
        gate="monitoring",
        status=GateStatus.FAIL,
        reason="no",
        evaluated_at=NOW,
        evidence=[{"key": "slo:api", "label": "API: no SLO", "status": "fail"}],
    )
    assert providers.read(key="gate", scope="monitoring|slo:api", now=NOW).freshness == Freshness.FAILING
    assert providers.read(key="gate", scope="monitoring|slo:web", now=NOW).freshness == Freshness.MISSING
    assert providers.read(key="no.such.provider", scope="", now=NOW).freshness == Freshness.MISSING


def test_the_finished_areas_register_their_providers() -> None:
    keys = {provider.key for provider in providers.all()}
    assert {"gate", "monitoring.runbook_reviewed", "incidents.review_published"} <= keys


def _upload(
    officer: User, control: Control, content: bytes = b"restic check: no errors\n", **extra: object
) -> EvidenceFile:
    return services.evidence_upload(
        control=control,
        upload=SimpleUploadedFile("restic-check.txt", content, content_type="text/html"),
        title="restic check",
        effective_date=extra.pop("effective_date", date(2026, 5, 20)),  # type: ignore[arg-type]
        uploaded_by=officer,
        **extra,  # type: ignore[arg-type]
    )


def test_an_uploaded_file_is_hashed_and_stored_as_an_opaque_download(officer: User) -> None:
    evidence = _upload(officer, _control())
    assert evidence.sha256 == hashlib.sha256(b"restic check: no errors\n").hexdigest()
    assert evidence.size == 24 and evidence.state == ReviewState.DRAFT
    assert evidence.content_type == "application/octet-stream"  # never what the browser claimed (text/html)
    with evidence.file.open("rb") as stored:
        assert stored.read() == b"restic check: no errors\n"


def test_uploads_of_a_refused_type_or_size_are_rejected(officer: User, settings: object) -> None:
    control = _control()
    with pytest.raises(ValidationError) as caught:
        services.evidence_upload(
            control=control,
            upload=SimpleUploadedFile("page.html", b"<script>alert(1)</script>"),
            title="x",
            effective_date=date(2026, 5, 1),
            uploaded_by=officer,
        )
    assert "file" in caught.value.message_dict
    with pytest.raises(ValidationError, match="at most"):
        _upload(officer, control, content=b"x" * (20 * 1024 * 1024 + 1))
    assert not EvidenceFile.objects.exists()


def test_a_file_counts_once_approved_by_another_officer_and_stops_counting_when_it_expires(
    officer: User, second_officer: User
) -> None:
    control = _control()
    evidence = _upload(officer, control, expires_on=date(2026, 6, 30))
    services.evidence_submit(evidence=evidence, actor=officer)
    with pytest.raises(PermissionDenied):
        services.evidence_review(evidence=evidence, actor=officer, approve=True)
    assert not control_evidence([control], now=NOW)[0].is_current
    services.evidence_review(evidence=evidence, actor=second_officer, approve=True, now=NOW)
    assert control_evidence([control], now=NOW)[0].is_current
    assert not control_evidence([control], now=datetime(2026, 7, 1, tzinfo=UTC))[0].is_current


def test_a_revision_replaces_the_file_once_approved_and_files_are_never_deleted(
    officer: User, second_officer: User
) -> None:
    control = _control()
    first = _upload(officer, control)
    services.evidence_submit(evidence=first, actor=officer)
    services.evidence_review(evidence=first, actor=second_officer, approve=True, now=NOW)
    second = _upload(officer, control, content=b"second run\n", previous=first, effective_date=date(2026, 5, 28))
    assert second.revision == 2
    assert [row.pk for row in control_evidence([control], now=NOW)[0].files] == [first.pk]
    services.evidence_submit(evidence=second, actor=officer)
    services.evidence_review(evidence=second, actor=second_officer, approve=True, now=NOW)
    assert [row.pk for row in control_evidence([control], now=NOW)[0].files] == [second.pk]
    with pytest.raises(EvidenceProtectedError):
        second.delete()
