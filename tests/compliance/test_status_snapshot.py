"""The status report reads the controls' evidence snapshots: the same figures as a fresh computation, a change
to evidence shown after the refresh, and a number of queries that does not grow with the controls."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compliance import builtin, services
from compliance.models import Control, ControlEvidenceSnapshot, EvidenceBinding, Framework, Requirement
from compliance.selectors import control_evidence, framework_controls
from opsgov.gates.services import evaluate_gates
from opsgov.models import GateEvaluation, GateStatus
from opsgov.roles import COMPLIANCE_OFFICER

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(make_user: Callable[..., User]) -> Client:
    client = Client()
    client.force_login(make_user("co-viewer", COMPLIANCE_OFFICER, is_staff=True))
    return client


def _framework() -> tuple[Framework, Requirement]:
    framework = builtin.install_builtin(bind_gates=False).framework
    return framework, Requirement.objects.filter(framework=framework, assessable=True).order_by("position")[0]


def _control(ref: str, requirement: Requirement, gate: str | None = None) -> Control:
    control = Control.objects.create(ref_id=ref, title=f"Control {ref}")
    control.requirements.add(requirement)
    if gate is not None:
        EvidenceBinding.objects.create(control=control, provider="gate", scope=gate)
    return control


def _evaluation(gate: str, status: str, hours_ago: float) -> None:
    GateEvaluation.objects.create(
        gate=gate, status=status, reason="-", evaluated_at=timezone.now() - timedelta(hours=hours_ago)
    )


def _approved_file(control: Control, uploader: User, reviewer: User) -> None:
    evidence = services.evidence_upload(
        control=control,
        upload=SimpleUploadedFile("check.txt", b"restic check: no errors\n"),
        title="restic check",
        effective_date=timezone.now().date() - timedelta(days=2),
        uploaded_by=uploader,
    )
    services.evidence_submit(evidence=evidence, actor=uploader)
    services.evidence_review(evidence=evidence, actor=reviewer, approve=True)


@pytest.fixture
def scenario(officer: User, second_officer: User) -> tuple[Framework, dict[str, Control]]:
    """Five controls: live evidence passing, failing, stale; a file only; nothing at all."""
    framework, requirement = _framework()
    _evaluation("backup_dr", GateStatus.PASS, hours_ago=1)
    _evaluation("monitoring", GateStatus.FAIL, hours_ago=1)
    _evaluation("security", GateStatus.PASS, hours_ago=24 * 3)  # the policy keeps a gate current for 2 days
    controls = {
        "pass": _control("C-1", requirement, "backup_dr"),
        "fail": _control("C-2", requirement, "monitoring"),
        "stale": _control("C-3", requirement, "security"),
        "file": _control("C-4", requirement),
        "none": _control("C-5", requirement),
    }
    _approved_file(controls["file"], officer, second_officer)
    return framework, controls


def _csv(client: Client, framework: Framework) -> list[list[str]]:
    response = client.get(reverse("admin:compliance_framework_status", args=[framework.pk, "csv"]))
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.content.decode())))


def _html(client: Client, framework: Framework) -> str:
    response = client.get(reverse("admin:compliance_framework_status", args=[framework.pk, "html"]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_and_the_csv_agree_with_a_fresh_computation(
    client: Client, scenario: tuple[Framework, dict[str, Control]]
) -> None:
    framework, controls = scenario
    now = timezone.now()
    services.evidence_snapshots_refresh(now=now)
    fresh = control_evidence(framework_controls(framework), now=now, with_files=False)
    expected = [
        [
            "control",
            str(item.control),
            "current" if item.is_current else "not current",
            ", ".join(f"{binding.provider}:{reading.freshness}" for binding, reading in item.readings)
            + f" files:{item.file_count}",
            item.control.get_absolute_url(),
        ]
        for item in fresh
    ]
    # By hand: C-1 passes, C-2 fails, C-3 went stale, C-4 has one approved file, C-5 nothing.
    assert [row[2:4] for row in expected] == [
        ["current", "gate:current files:0"],
        ["not current", "gate:failing files:0"],
        ["not current", "gate:stale files:0"],
        ["current", " files:1"],
        ["not current", " files:0"],
    ]
    rows = _csv(client, framework)
    assert [row for row in rows if row[0] == "control"] == expected
    assert ["summary", "controls with current evidence", "2/5", "", ""] in rows
    page = _html(client, framework)
    assert "Controls with current evidence: 2 of 5" in page
    assert f"Controls' evidence as of {timezone.localtime(now):%Y-%m-%d %H:%M} UTC" in page
    for control, state, live, files in (
        (controls["pass"], "current", "gate: current", 0),
        (controls["fail"], "not current", "gate: failing", 0),
        (controls["file"], "current", "—", 1),
    ):
        assert f">{control}</a></td>\n      <td>{state}</td>\n      <td>{live}</td>\n      <td>{files}</td>" in page


def test_a_change_to_evidence_shows_after_the_refresh(
    client: Client, scenario: tuple[Framework, dict[str, Control]], officer: User, second_officer: User
) -> None:
    framework, controls = scenario
    services.evidence_snapshots_refresh()
    assert "Controls with current evidence: 2 of 5" in _html(client, framework)
    # Live evidence changes elsewhere: the monitoring gate passes now. The snapshot still says failing...
    _evaluation("monitoring", GateStatus.PASS, hours_ago=0)
    assert "Controls with current evidence: 2 of 5" in _html(client, framework)
    # ... until the compliance gate's evaluation (every five minutes) refreshes it.
    evaluate_gates(keys=["compliance"])
    assert "Controls with current evidence: 3 of 5" in _html(client, framework)
    assert ControlEvidenceSnapshot.objects.get(control=controls["fail"]).readings == [["gate", "current"]]
    # A file approved for the control without evidence shows at once: the change refreshed its snapshot.
    _approved_file(controls["none"], officer, second_officer)
    assert ["summary", "controls with current evidence", "4/5", "", ""] in _csv(client, framework)
    # So does a binding removed (C-1 has no live evidence and no file left) and a control retired (C-2).
    EvidenceBinding.objects.filter(control=controls["pass"]).delete()
    controls["fail"].status = "retired"
    controls["fail"].save()
    assert "Controls with current evidence: 2 of 4" in _html(client, framework)


def test_the_report_reads_a_fixed_number_of_queries_whatever_the_number_of_controls(client: Client) -> None:
    framework, requirement = _framework()
    _evaluation("backup_dr", GateStatus.PASS, hours_ago=1)

    def add(count: int) -> None:
        start = Control.objects.count()
        for n in range(start, start + count):
            _control(f"Q-{n:03d}", requirement, "backup_dr" if n % 2 else None)

    def queries(fmt: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse("admin:compliance_framework_status", args=[framework.pk, fmt]))
        assert response.status_code == 200
        return len(captured)

    add(3)
    small = (queries("html"), queries("csv"))
    add(120)  # more than a page of the HTML report (100); ... Q-121 are bound (61)
    large = (queries("html"), queries("csv"))
    assert large == small
    assert "Controls with current evidence: 61 of 123" in _html(client, framework)


def test_controls_loaded_without_a_snapshot_get_one_at_the_first_report(client: Client) -> None:
    framework, requirement = _framework()
    _evaluation("backup_dr", GateStatus.PASS, hours_ago=1)
    loaded = Control.objects.bulk_create([Control(ref_id=f"B-{n}", title="Bulk") for n in range(4)])  # no signals
    Control.requirements.through.objects.bulk_create(
        [Control.requirements.through(control_id=control.pk, requirement_id=requirement.pk) for control in loaded]
    )
    EvidenceBinding.objects.bulk_create([EvidenceBinding(control=loaded[0], provider="gate", scope="backup_dr")])
    assert not ControlEvidenceSnapshot.objects.exists()
    assert "Controls with current evidence: 1 of 4" in _html(client, framework)
    assert ControlEvidenceSnapshot.objects.count() == 4


def test_a_control_deleted_with_its_bindings_leaves_no_snapshot(scenario: tuple[Framework, dict[str, Control]]) -> None:
    _framework, controls = scenario
    control = controls["stale"]
    control.delete()
    assert not ControlEvidenceSnapshot.objects.filter(pk=control.pk).exists()
