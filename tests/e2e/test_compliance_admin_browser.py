"""The admin as the compliance officer's workplace, in Debian's Chromium: import the fixture catalog,
bind a control to live evidence, run an audit with a finding, export the evidence package."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from compliance.models import Audit, Finding
from compliance.package import verify_package
from opsgov.models import GateEvaluation, GateStatus
from opsgov.roles import COMPLIANCE_OFFICER

from ..compliance.conftest import FIXTURES

PASSWORD = "correct horse battery staple"  # UserFactory's password

pytestmark = [pytest.mark.integration]


@pytest.fixture
def officer_in_browser(
    transactional_db: None, make_user: Callable[..., User], settings: object, tmp_path: Path
) -> User:
    settings.MEDIA_ROOT = tmp_path / "media"  # type: ignore[attr-defined]
    # The backup gate's latest evaluation passed an hour ago: live evidence to bind to.
    GateEvaluation.objects.create(
        gate="backup_dr",
        status=GateStatus.PASS,
        reason="Backups on time, restore tested",
        evaluated_at=timezone.now() - timedelta(hours=1),
        evidence=[{"key": "restore:db", "label": "Restore tested", "status": "pass"}],
    )
    return make_user("casey", COMPLIANCE_OFFICER, is_staff=True, first_name="Casey")


def test_a_compliance_officer_imports_binds_audits_and_exports_in_the_admin(
    officer_in_browser: User, browser: Browser, live_server: LiveServer, screenshots: Callable[[Page, str], Path]
) -> None:
    base = live_server.url
    page = browser.new_page(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page.goto(base + "/admin/login/")
    page.locator("#id_username").fill("casey")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page.locator("#site-name")).to_be_visible()

    # Import the fixture catalog.
    page.goto(base + "/admin/compliance/framework/")
    page.get_by_role("link", name="Import a framework").click()
    page.locator("#id_document").set_input_files(str(FIXTURES / "oscal-catalog.json"))
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".messagelist")).to_contain_text("Imported Acme Operations Controls v1.0")
    screenshots(page, "compliance-framework-imported")

    # A control mapped to bk-1.1 and bound to the backup gate's live evidence.
    page.goto(base + "/admin/compliance/control/add/")
    page.locator("#id_ref_id").fill("BK-RT")
    page.locator("#id_title").fill("Restores are tested every quarter")
    page.locator("#id_is_key").check()
    page.locator("#id_requirements_from").select_option(label="bk-1.1 Restore testing")
    page.locator("#id_requirements_add").click()
    page.locator("#id_bindings-0-provider").select_option("gate")
    page.locator("#id_bindings-0-scope").fill("backup_dr")
    page.locator("input[name=_continue]").click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    evidence = page.locator(".field-live_evidence")
    expect(evidence).to_contain_text("Current")
    expect(evidence).to_contain_text("Gate backup_dr: Pass")
    screenshots(page, "compliance-control-live-evidence")

    # An internal audit with a failed test and a critical finding.
    page.goto(base + "/admin/compliance/audit/add/")
    page.locator("#id_title").fill("Q2 internal audit")
    page.locator("#id_framework").select_option(label="Acme Operations Controls v1.0")
    page.locator("#id_period_start").fill("2026-04-01")
    page.locator("#id_period_end").fill("2026-06-30")
    page.locator("#id_lead_auditor").select_option(label="casey")
    page.locator("#id_test_results-0-control").select_option(label="BK-RT Restores are tested every quarter")
    page.locator("#id_test_results-0-method").select_option("reperformance")
    page.locator("#id_test_results-0-result").select_option("failed")
    page.locator("#id_test_results-0-sample").fill("1 of 4 quarters")
    page.locator("#id_findings-0-title").fill("Restore test missing for Q2")
    page.locator("#id_findings-0-severity").select_option("critical")
    page.locator("#id_findings-0-control").select_option(label="BK-RT Restores are tested every quarter")
    page.locator("input[name=_continue]").click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    finding = Finding.objects.get(title="Restore test missing for Q2")
    assert (finding.due_at - finding.identified_at).days == 15
    screenshots(page, "compliance-audit")

    # Export the evidence package: the manifest checks out and lists the live evidence.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Evidence package (ZIP)").click()
    data = Path(download_info.value.path()).read_bytes()
    assert verify_package(io.BytesIO(data)) == []
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
    [control] = manifest["controls"]
    assert control["control"] == "BK-RT" and control["live_evidence"][0]["state"] == "current"
    assert manifest["audit"] == Audit.objects.get().title == "Q2 internal audit"
