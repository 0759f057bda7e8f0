"""The evidence package reads its controls in batches: the same manifest, queries and memory per batch."""

from __future__ import annotations

import gc
import io
import json
import tracemalloc
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance import package, services
from compliance.importers import import_oscal_catalog
from compliance.models import Audit, Control, EvidenceBinding, Requirement
from compliance.package import audit_package, verify_package
from opsgov.models import GateEvaluation, GateStatus

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def audit(catalog_bytes: bytes, officer: User) -> Audit:
    framework = import_oscal_catalog(catalog_bytes).framework
    for gate, status in (("backup_dr", GateStatus.PASS), ("security_operations", GateStatus.FAIL)):
        GateEvaluation.objects.create(gate=gate, status=status, reason="-", evaluated_at=NOW - timedelta(hours=1))
    return services.audit_create(
        title="Q2 audit",
        framework=framework,
        period_start=date(2026, 4, 1),
        period_end=date(2026, 6, 30),
        lead_auditor=officer,
    )


def add_controls(audit: Audit, count: int) -> list[Control]:
    """`count` more controls in the audit's scope: two in three bound to a gate's live evidence (passing
    or failing), every seventh to both, the others to none; created in the reverse order of their reference."""
    requirement = Requirement.objects.get(framework=audit.framework, ref_id="bk-1")
    start = Control.objects.count()
    controls = Control.objects.bulk_create(
        [Control(ref_id=f"C-{n:04d}", title=f"Control {n}") for n in reversed(range(start, start + count))]
    )
    Control.requirements.through.objects.bulk_create(
        [Control.requirements.through(control_id=c.pk, requirement_id=requirement.pk) for c in controls]
    )
    gates = ("backup_dr", "security_operations")
    EvidenceBinding.objects.bulk_create(
        [
            EvidenceBinding(control=control, provider="gate", scope=gate)
            for n, control in enumerate(controls)
            for gate in (gates if n % 7 == 0 else gates[n % 2 :][:1] if n % 3 else ())
        ]
    )
    return controls


def manifest_of(audit: Audit) -> bytes:
    data = b"".join(audit_package(audit, now=NOW))
    assert verify_package(io.BytesIO(data)) == []
    return zipfile.ZipFile(io.BytesIO(data)).read("manifest.json")


def test_the_manifest_is_the_same_read_in_batches_as_in_one_and_its_queries_grow_per_batch_not_per_control(
    audit: Audit, officer: User, second_officer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    controls = add_controls(audit, 10)
    for control in controls[:3]:  # three controls with a current file, one of them with two
        for name in ("a.log", "b.log") if control == controls[0] else ("a.log",):
            evidence = services.evidence_upload(
                control=control,
                upload=SimpleUploadedFile(name, f"{control.ref_id} {name}".encode()),
                title=name,
                effective_date=date(2026, 5, 30),
                uploaded_by=officer,
            )
            services.evidence_submit(evidence=evidence, actor=officer)
            services.evidence_review(evidence=evidence, actor=second_officer, approve=True, now=NOW)
    whole = manifest_of(audit)  # the ten controls in one batch (CONTROL_BATCH is 100)
    monkeypatch.setattr(package, "CONTROL_BATCH", 3)
    monkeypatch.setattr(package, "FILE_BATCH", 2)
    assert manifest_of(audit) == whole  # four batches of controls, two of files: byte for byte the same
    rows = json.loads(whole)["controls"]
    assert [row["control"] for row in rows] == [f"C-{n:04d}" for n in range(10)]
    current = {row["control"] for row in rows if row["current"]}
    assert len(current) == 3 and len(json.loads(whole)["files"]) == 4
    assert {len(row["live_evidence"]) for row in rows} == {0, 1, 2}

    # Three queries per batch of controls (the controls, their bindings, their file counts) and each gate's
    # evidence read once per package: 40 controls are 14 batches of three, 10 are 4; 30 more queries.
    with CaptureQueriesContext(connection) as before:
        manifest_of(audit)
    add_controls(audit, 30)
    with CaptureQueriesContext(connection) as after:
        manifest_of(audit)
    assert len(after) - len(before) == 3 * (14 - 4)


def test_the_package_peak_memory_is_the_same_for_four_times_the_controls(
    audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(package, "CONTROL_BATCH", 50)

    def peak() -> int:
        for _chunk in audit_package(audit, now=NOW):  # warm: URL patterns, SQL compilers, provider imports
            pass
        gc.collect()
        tracemalloc.start()
        try:
            assert sum(len(chunk) for chunk in audit_package(audit, now=NOW)) > 0
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # 300 controls: the manifest's control rows (about 75 KB) already fill a read of the spool (FLUSH_AT).
    add_controls(audit, 300)
    small = peak()
    add_controls(audit, 900)
    large = peak()
    # Read whole, 900 more controls' rows, evidence and instances would add over 1 MB (about 1.5 KB each).
    assert large - small < 50_000, (small, large)
