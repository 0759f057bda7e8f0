"""The admin as the compliance officer's workplace: per-role permissions, no delete, imports, exports."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compliance import services
from compliance.importers import import_oscal_catalog
from compliance.models import Audit, Control, Finding, Framework, RegulatoryChange
from compliance.package import verify_package
from opsgov.roles import COMPLIANCE_OFFICER, SRE_LEAD

pytestmark = pytest.mark.django_db
MODELS = [
    "framework",
    "requirement",
    "control",
    "evidencefile",
    "audit",
    "finding",
    "complianceexception",
    "regulatorychange",
]


@pytest.fixture
def staff(make_user: Callable[..., User]) -> Callable[[str, str], Client]:
    def login(username: str, role: str) -> Client:
        user = make_user(username, role, is_staff=True)
        client = Client()
        client.force_login(user)
        return client

    return login


def test_the_officer_works_in_every_compliance_list_and_nobody_deletes(
    staff: Callable[[str, str], Client], catalog_bytes: bytes, officer: User, make_user: Callable[..., User]
) -> None:
    client = staff("co", COMPLIANCE_OFFICER)
    framework = import_oscal_catalog(catalog_bytes).framework
    for model in MODELS:
        assert client.get(reverse(f"admin:compliance_{model}_changelist")).status_code == 200, model
    finding = services.finding_record(title="x", severity="low")
    assert client.get(reverse("admin:compliance_finding_delete", args=[finding.pk])).status_code == 403
    superuser = make_user("root", is_staff=True, is_superuser=True)
    root = Client()
    root.force_login(superuser)
    assert root.get(reverse("admin:compliance_finding_delete", args=[finding.pk])).status_code == 403
    assert root.get(reverse("admin:compliance_framework_delete", args=[framework.pk])).status_code == 403
    page = client.get(reverse("admin:compliance_finding_changelist")).content.decode()
    assert "delete_selected" not in page


def test_other_roles_read_but_do_not_change(staff: Callable[[str, str], Client]) -> None:
    client = staff("sre", SRE_LEAD)
    assert client.get(reverse("admin:compliance_control_changelist")).status_code == 200
    assert client.get(reverse("admin:compliance_control_add")).status_code == 403
    assert client.get(reverse("admin:compliance_framework_import")).status_code == 403


def test_importing_through_the_admin_shows_the_path_of_a_problem(
    staff: Callable[[str, str], Client], catalog_bytes: bytes
) -> None:
    client = staff("co", COMPLIANCE_OFFICER)
    bad = catalog_bytes.replace(b'"id": "bk-2"', b'"id": "bk 2"', 1)
    upload = io.BytesIO(bad)
    upload.name = "catalog.json"
    response = client.post(reverse("admin:compliance_framework_import"), {"document": upload})
    assert response.status_code == 200
    assert "catalog.groups[0].controls[1].id" in response.content.decode()
    assert not Framework.objects.exists()
    good = io.BytesIO(catalog_bytes)
    good.name = "catalog.json"
    response = client.post(reverse("admin:compliance_framework_import"), {"document": good})
    assert response.status_code == 302 and Framework.objects.count() == 1


def test_the_audit_exports_stream_a_package_and_oscal(
    staff: Callable[[str, str], Client], catalog_bytes: bytes, officer: User
) -> None:
    client = staff("co", COMPLIANCE_OFFICER)
    framework = import_oscal_catalog(catalog_bytes).framework
    control = Control.objects.create(ref_id="BK-1", title="Backups verified")
    control.requirements.add(framework.requirements.get(ref_id="bk-1"))
    audit = services.audit_create(
        title="Q1",
        framework=framework,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 3, 31),
        lead_auditor=officer,
    )
    response = client.get(reverse("admin:compliance_audit_package", args=[audit.pk]))
    assert response.status_code == 200 and response.streaming
    assert verify_package(io.BytesIO(b"".join(response.streaming_content))) == []  # type: ignore[attr-defined]
    oscal = client.get(reverse("admin:compliance_audit_oscal", args=[audit.pk]))
    assert oscal.status_code == 200 and b'"assessment-results"' in oscal.content
    status = client.get(reverse("admin:compliance_framework_status", args=[framework.pk, "csv"]))
    assert status.status_code == 200 and b"requirements covered,1/5" in status.content
    html = client.get(reverse("admin:compliance_framework_status", args=[framework.pk, "html"]))
    assert b"Compliance status" in html.content


def test_an_audit_with_a_test_result_and_a_finding_is_recorded_through_the_admin_form(
    staff: Callable[[str, str], Client], catalog_bytes: bytes, officer: User
) -> None:
    client = staff("co", COMPLIANCE_OFFICER)
    framework = import_oscal_catalog(catalog_bytes).framework
    control = Control.objects.create(ref_id="BK-1", title="Backups verified")
    data = {
        "title": "Q2 internal audit",
        "kind": "internal",
        "framework": framework.pk,
        "period_start": "2026-04-01",
        "period_end": "2026-06-30",
        "lead_auditor": officer.pk,
        "status": "planned",
        "test_results-TOTAL_FORMS": "1",
        "test_results-INITIAL_FORMS": "0",
        "test_results-0-control": control.pk,
        "test_results-0-method": "inspection",
        "test_results-0-result": "failed",
        "test_results-0-sample": "2 of 10",
        "findings-TOTAL_FORMS": "1",
        "findings-INITIAL_FORMS": "0",
        "findings-0-title": "Restore test overdue",
        "findings-0-severity": "critical",
        "findings-0-control": control.pk,
    }
    response = client.post(reverse("admin:compliance_audit_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    audit = Audit.objects.get()
    [finding] = Finding.objects.filter(audit=audit)
    assert (finding.due_at - finding.identified_at).days == 15
    assert audit.test_results.get().tested_by.username == "co"


def test_an_external_auditor_reads_only_their_audit_and_only_until_access_expires(
    catalog_bytes: bytes, officer: User, make_user: Callable[..., User]
) -> None:
    framework = import_oscal_catalog(catalog_bytes).framework
    control = Control.objects.create(ref_id="BK-1", title="Backups verified")
    control.requirements.add(framework.requirements.get(ref_id="bk-1"))
    Control.objects.create(ref_id="OUT-1", title="Not in any audit")
    mine = services.audit_create(
        title="External Q1",
        framework=framework,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 3, 31),
        lead_auditor=officer,
    )
    other = services.audit_create(
        title="Internal Q1",
        framework=framework,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 3, 31),
        lead_auditor=officer,
    )
    services.finding_record(title="Seen", severity="low", audit=mine)
    services.finding_record(title="Not seen", severity="low", audit=other)
    guest = make_user("guest", is_staff=True)
    mine.external_auditors.add(guest)
    mine.access_expires_at = timezone.now() + timedelta(days=7)
    mine.save()
    client = Client()
    client.force_login(guest)
    audits = client.get(reverse("admin:compliance_audit_changelist")).content.decode()
    assert "External Q1" in audits and "Internal Q1" not in audits
    findings = client.get(reverse("admin:compliance_finding_changelist")).content.decode()
    assert "Seen" in findings and "Not seen" not in findings
    controls = client.get(reverse("admin:compliance_control_changelist")).content.decode()
    assert "BK-1" in controls and "OUT-1" not in controls
    assert client.get(reverse("admin:compliance_audit_package", args=[mine.pk])).status_code == 200
    assert client.get(reverse("admin:compliance_audit_package", args=[other.pk])).status_code == 404
    assert client.get(reverse("admin:compliance_complianceexception_changelist")).status_code == 403
    assert client.get(reverse("admin:compliance_audit_change", args=[mine.pk])).status_code == 200
    assert client.post(reverse("admin:compliance_audit_change", args=[mine.pk]), {"title": "x"}).status_code == 403
    mine.access_expires_at = timezone.now() - timedelta(minutes=1)
    mine.save()
    assert client.get(reverse("admin:compliance_audit_changelist")).status_code == 403


def test_a_regulatory_change_with_a_task_is_registered_in_the_admin(
    staff: Callable[[str, str], Client], officer: User
) -> None:
    client = staff("co", COMPLIANCE_OFFICER)
    control = Control.objects.create(ref_id="BK-1", title="Backups verified")
    data = {
        "title": "Retention rules for backups",
        "source": "National data authority, circular 12",
        "summary": "Backups holding personal data are kept at most 90 days.",
        "effective_date": "2027-01-01",
        "impact_assessment": "Shorten retention of two policies.",
        "affected_controls": [control.pk],
        "status": "assessed",
        "tasks-TOTAL_FORMS": "1",
        "tasks-INITIAL_FORMS": "0",
        "tasks-0-description": "Change the retention of the nightly backups",
        "tasks-0-owner": officer.pk,
        "tasks-0-due_on": "2026-12-15",
    }
    response = client.post(reverse("admin:compliance_regulatorychange_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    change = RegulatoryChange.objects.get()
    assert list(change.affected_controls.all()) == [control]
    assert change.tasks.get().due_on == date(2026, 12, 15)
