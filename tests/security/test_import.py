"""Scan import: every fixture format, detection errors, identity through aliases, severity, life cycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsgov.policy import clear_policy_cache
from security import services
from security.models import Asset, AssetMappingRule, Component, Finding, FindingStatus, Scan
from security.parsers import UnknownFormat, parse_report
from tests.factories import ServiceFactory

from .support import FIXTURES, copy_of, fixture, trivy

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def _import(report: Any, asset: str = "app", **kwargs: Any) -> services.ImportResult:
    kwargs.setdefault("create_asset", True)
    kwargs.setdefault("now", NOW)
    return services.import_scan(report=report, asset_name=asset, **kwargs)


@pytest.mark.parametrize(
    ("name", "fmt", "count"),
    [
        ("trivy-image-v2.json", "trivy", 4),
        ("trivy-legacy-list.json", "trivy-legacy", 1),
        ("grype.json", "grype", 2),
        ("pip-audit.json", "pip-audit", 1),
        ("osv-scanner.json", "osv-scanner", 1),
        ("cyclonedx-1.6-vex.json", "cyclonedx", 1),
        ("dependabot-alert.json", "dependabot", 1),
    ],
)
def test_each_fixture_is_detected_and_imported(name: str, fmt: str, count: int) -> None:
    result = _import(fixture(name), asset=name)
    assert result.created
    assert result.scan.format == fmt
    assert Finding.objects.filter(asset__name=name).count() == count
    assert result.scan.report == fixture(name)  # the raw report is kept


def test_trivy_v2_fields_and_traps() -> None:
    _import(fixture("trivy-image-v2.json"))
    findings = {f.vulnerability_id: f for f in Finding.objects.all()}
    xz = findings["CVE-2024-3094"]
    assert xz.severity == "critical" and xz.severity_source == "scanner"
    assert xz.package_key == "pkg:deb/debian/liblzma5@5.6.0-0.2"  # qualifiers dropped from the identity
    assert xz.purl.endswith("distro=debian-12.5")
    # Status "fixed" in Trivy means a fix exists: the finding is open.
    assert xz.status == FindingStatus.OPEN
    assert findings["CVE-2024-27351"].fixed_versions == "3.2.25, 4.2.11, 5.0.3"
    assert findings["CVE-2023-45853"].package_key == "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1"  # built from Type
    # 48 hours for a critical, from opsgov's first detection (not the scanner's clock).
    assert xz.first_seen_at == NOW
    assert xz.due_at == NOW + timedelta(hours=48)
    assert findings["CVE-2024-2511"].due_at == NOW + timedelta(days=7)
    assert findings["CVE-2024-27351"].due_at == NOW + timedelta(days=30)
    scan = Scan.objects.get()
    assert scan.scopes == [
        "trivy:registry.acme.test/checkout:1.4.2 (debian 12.5)",
        "trivy:app/requirements.txt",
        "trivy:Pipfile.lock",  # no Vulnerabilities key: scanned, clean
    ]
    assert scan.reported_at == datetime(2026, 3, 2, 8, 14, 5, 120000, tzinfo=UTC)


def test_grype_negligible_and_ghsa_with_cve_in_related() -> None:
    _import(fixture("grype.json"))
    django = Finding.objects.get(package_name="django")
    assert django.vulnerability_id == "CVE-2024-27351"
    assert django.aliases == ["GHSA-xxxx-4c2h-mm6c"]
    assert Finding.objects.get(package_name="libssl3").severity == "info"  # Negligible


def test_same_flaw_from_five_scanners_is_one_finding() -> None:
    for name in ("trivy-image-v2.json", "grype.json", "pip-audit.json", "osv-scanner.json"):
        _import(fixture(name), asset="checkout")
    django = Finding.objects.filter(package_key="pkg:pypi/django@4.2.10")
    assert django.count() == 1
    finding = django.get()
    assert finding.vulnerability_id == "CVE-2024-27351"
    assert finding.aliases == ["GHSA-xxxx-4c2h-mm6c", "PYSEC-2024-47"]
    assert sorted(finding.open_scopes) == [
        "grype:registry.acme.test/checkout:1.4.2",
        "osv-scanner:/src/requirements.txt",
        "pip-audit:environment",
        "trivy:app/requirements.txt",
    ]


def test_pip_audit_without_severity_takes_the_alias_severity_else_the_policy_default() -> None:
    _import(fixture("pip-audit.json"), asset="alone")
    assert Finding.objects.get(asset__name="alone").severity == "medium"
    assert Finding.objects.get(asset__name="alone").severity_source == "policy default"
    report = fixture("pip-audit.json")
    report["dependencies"][0]["vulns"][0]["id"] = "PYSEC-2099-1"
    report["dependencies"][0]["vulns"][0]["aliases"] = ["CVE-2099-1"]
    _import(trivy("t", [("CVE-2099-1", "x", "1", "CRITICAL")]), asset="other")
    _import(report, asset="third")
    finding = Finding.objects.get(asset__name="third")
    assert (finding.vulnerability_id, finding.severity, finding.severity_source) == ("CVE-2099-1", "critical", "alias")


def test_osv_cvss_vector_gives_the_severity() -> None:
    report = fixture("osv-scanner.json")
    report["results"][0]["packages"][0]["vulnerabilities"][0]["severity"][0]["score"] = (
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    )
    _import(report)
    finding = Finding.objects.get()
    assert (finding.severity, finding.severity_source) == ("critical", "cvss")


def test_vex_not_affected_is_not_applicable_with_justification_and_resolved_fixes() -> None:
    _import(trivy("app/requirements.txt", [("CVE-2024-27351", "django", "4.2.10", "MEDIUM")]), asset="checkout")
    _import(fixture("cyclonedx-1.6-vex.json"), asset="checkout")
    finding = Finding.objects.get()
    assert finding.status == FindingStatus.NOT_APPLICABLE
    assert finding.justification == "VEX not_affected (code_not_reachable): Truncator.words(html=True) is not used"
    assert Component.objects.filter(asset__name="checkout", name="django", version="4.2.10").exists()


def test_vex_resolved_fixes_the_finding() -> None:
    _import(fixture("cyclonedx-1.6-vex.json") | {"vulnerabilities": []}, asset="c")
    vex = fixture("cyclonedx-1.6-vex.json")
    vex["vulnerabilities"][0]["analysis"] = {"state": "exploitable"}
    _import(vex, asset="c", now=NOW + timedelta(hours=1))
    assert Finding.objects.get().status == FindingStatus.OPEN
    vex["vulnerabilities"][0]["analysis"] = {"state": "resolved"}
    _import(vex, asset="c", now=NOW + timedelta(hours=2))
    finding = Finding.objects.get()
    assert (finding.status, finding.fixed_at) == (FindingStatus.FIXED, NOW + timedelta(hours=2))


def test_dependabot_states_and_webhook_shape() -> None:
    alert = fixture("dependabot-alert.json")
    result = _import({"action": "created", "alert": alert, "repository": {"full_name": "acme/checkout"}}, asset="")
    assert result.scan.asset.name == "acme/checkout"
    finding = Finding.objects.get()
    assert (finding.vulnerability_id, finding.package_key, finding.status) == (
        "CVE-2024-27351",
        "pkg:pypi/django",
        FindingStatus.OPEN,
    )
    dismissed = alert | {"state": "dismissed", "dismissed_reason": "tolerable_risk"}
    _import(dismissed, asset="acme/checkout", now=NOW + timedelta(hours=1))
    finding.refresh_from_db()
    assert (finding.status, finding.justification) == (FindingStatus.NOT_APPLICABLE, "Dependabot: tolerable_risk")


def test_fixed_only_by_a_rescan_of_the_same_scope() -> None:
    lib = ("CVE-2024-1", "lib", "1.0", "HIGH")
    _import(trivy("a.txt", [lib]))
    # Another target of the same asset, and another scanner, omit it: still open.
    _import(trivy("b.txt", []), now=NOW + timedelta(hours=1))
    _import({"dependencies": [{"name": "lib", "version": "1.0", "vulns": []}]}, now=NOW + timedelta(hours=2))
    finding = Finding.objects.get()
    assert finding.status == FindingStatus.OPEN
    # Another asset's scan of the same target omits it: still open.
    _import(trivy("a.txt", []), asset="elsewhere", now=NOW + timedelta(hours=3))
    finding.refresh_from_db()
    assert finding.status == FindingStatus.OPEN
    # The same asset and scope scanned again without it: fixed.
    result = _import(trivy("a.txt", []), now=NOW + timedelta(hours=4))
    finding.refresh_from_db()
    assert (finding.status, finding.fixed_at, result.scan.fixed) == (FindingStatus.FIXED, NOW + timedelta(hours=4), 1)
    # It comes back: reopened, and (policy default) its SLA restarts.
    result = _import(trivy("a.txt", [lib]), now=NOW + timedelta(days=3))
    finding.refresh_from_db()
    assert (finding.status, finding.reopen_count, result.scan.reopened) == (FindingStatus.OPEN, 1, 1)
    assert finding.fixed_at is None
    assert finding.sla_started_at == NOW + timedelta(days=3)
    assert finding.due_at == NOW + timedelta(days=10)
    assert finding.first_seen_at == NOW


def test_a_finding_seen_by_two_scanners_stays_open_until_both_miss_it() -> None:
    _import(trivy("requirements.txt", [("CVE-2024-1", "lib", "1.0", "HIGH")]))
    _import(
        {"dependencies": [{"name": "lib", "version": "1.0", "vulns": [{"id": "PYSEC-1", "aliases": ["CVE-2024-1"]}]}]},
        now=NOW + timedelta(hours=1),
    )
    _import(trivy("requirements.txt", []), now=NOW + timedelta(hours=2))
    assert Finding.objects.get().status == FindingStatus.OPEN
    _import({"dependencies": [{"name": "lib", "version": "1.0", "vulns": []}]}, now=NOW + timedelta(hours=3))
    assert Finding.objects.get().status == FindingStatus.FIXED


def test_reopen_keeps_the_first_clock_when_the_policy_says_so(settings: Any, tmp_path: Any) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[security]\nreopen_restarts_sla = false\n")
    settings.OPSGOV_POLICY = str(policy)
    clear_policy_cache()
    lib = ("CVE-2024-1", "lib", "1.0", "CRITICAL")
    _import(trivy("a", [lib]))
    _import(trivy("a", []), now=NOW + timedelta(hours=1))
    _import(trivy("a", [lib]), now=NOW + timedelta(days=5))
    finding = Finding.objects.get()
    assert (finding.status, finding.due_at) == (FindingStatus.OPEN, NOW + timedelta(hours=48))


def test_reimporting_the_same_report_changes_nothing() -> None:
    report = fixture("trivy-image-v2.json")
    first = _import(report)
    before = list(Finding.objects.order_by("pk").values())
    again = _import(copy_of(report), now=NOW + timedelta(days=1))
    assert (again.created, again.scan.pk) == (False, first.scan.pk)
    assert Scan.objects.count() == 1
    assert list(Finding.objects.order_by("pk").values()) == before


def test_unknown_format_says_what_was_tried_and_why() -> None:
    with pytest.raises(UnknownFormat) as caught:
        _import({"SchemaVersion": 2, "Results": [{"Vulnerabilities": []}]})
    tried = caught.value.tried
    assert list(tried) == ["trivy", "trivy-legacy", "grype", "pip-audit", "osv-scanner", "cyclonedx", "dependabot"]
    assert tried["trivy"].path == "$.Results[0].Target"
    assert tried["grype"].path == "$.matches"
    assert not Scan.objects.exists() and not Asset.objects.exists()


def test_a_bad_row_late_in_a_report_imports_nothing() -> None:
    report = fixture("trivy-image-v2.json")
    report["Results"][1]["Vulnerabilities"][0]["PkgIdentifier"]["PURL"] = "not a purl"
    with pytest.raises(UnknownFormat) as caught:
        _import(report, format="trivy")
    assert caught.value.tried["trivy"].path == "$.Results[1].Vulnerabilities[0].PkgIdentifier.PURL"
    assert not Finding.objects.exists() and not Scan.objects.exists()


def test_unknown_asset_is_refused_with_the_rule_to_add_or_mapped_by_a_rule() -> None:
    with pytest.raises(ValidationError) as caught:
        services.import_scan(report=fixture("trivy-image-v2.json"), now=NOW)
    assert "registry.acme.test/checkout:1.4.2" in caught.value.message_dict["asset"][0]
    assert "asset-rules" in caught.value.message_dict["asset"][0]
    service = ServiceFactory.create(slug="checkout")
    AssetMappingRule.objects.create(pattern="registry.acme.test/checkout:*", service=service)
    result = services.import_scan(report=fixture("trivy-image-v2.json"), now=NOW)
    assert (result.scan.asset.name, result.scan.asset.service, result.scan.asset.kind) == (
        "registry.acme.test/checkout:1.4.2",
        service,
        "image",
    )


def test_parse_report_with_a_named_format_tries_only_it() -> None:
    with pytest.raises(UnknownFormat) as caught:
        parse_report(fixture("grype.json"), format="trivy")
    assert list(caught.value.tried) == ["trivy"]


def test_import_scan_command(capsys: Any) -> None:
    call_command("import_scan", str(FIXTURES / "trivy-image-v2.json"), "--asset", "cmd", "--create-asset")
    out = capsys.readouterr().out
    assert "4 finding(s) listed, 4 new" in out
    call_command("import_scan", str(FIXTURES / "trivy-image-v2.json"), "--asset", "cmd")
    assert "Unchanged" in capsys.readouterr().out
    with pytest.raises(CommandError, match=r"falco-alerts.jsonl: \$: not JSON"):
        call_command("import_scan", str(FIXTURES / "falco-alerts.jsonl"), "--asset", "cmd")
    with pytest.raises(CommandError, match="No asset is named 'nobody'"):
        call_command("import_scan", str(FIXTURES / "grype.json"), "--asset", "nobody")


def test_the_first_scan_of_an_asset_costs_six_statements_and_sets_when_it_was_scanned() -> None:
    """The unchanged check, the asset locked and stamped (one UPDATE ... RETURNING), the alias lookup and
    insert, the findings, the scan: no query for the asset's findings when it has none yet."""
    Asset.objects.create(name="app", last_scanned_at=None)
    lib = ("CVE-2026-1", "lib", "1.0", "HIGH")
    with CaptureQueriesContext(connection) as queries:
        result = _import(trivy("requirements.txt", [lib]), create_asset=False)
    statements = [q["sql"].split()[0] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert statements == ["SELECT", "UPDATE", "SELECT", "INSERT", "INSERT", "INSERT"]
    asset = Asset.objects.get()
    assert (asset.last_scanned_at, asset.updated_at, result.scan.created) == (NOW, NOW, 1)
    # A second scan matches the finding the asset has (one new); a report that scanned nothing leaves
    # last_scanned_at alone.
    other = ("CVE-2026-2", "other", "2.0", "LOW")
    _import(trivy("requirements.txt", [lib, other]), create_asset=False, now=NOW + timedelta(days=1))
    assert Asset.objects.get().last_scanned_at == NOW + timedelta(days=1)
    assert Finding.objects.count() == 2
    empty = _import({"SchemaVersion": 2, "ArtifactName": "app"}, create_asset=False, now=NOW + timedelta(days=2))
    assert empty.created and Asset.objects.get().last_scanned_at == NOW + timedelta(days=1)


def test_rows_inserted_as_values_take_their_defaults_and_call_a_callable_default_for_each_row() -> None:
    # The import's insert (security.services._insert_rows) on a model with a uuid4 default: two rows that
    # leave it out get two uuids, as the ORM would give them; the other defaults and auto_now are filled in.
    from maintenance.models import ChangeTemplate
    from security.services import _insert_rows

    _insert_rows(ChangeTemplate, [{"name": "Rotate logs"}, {"name": "Renew certificates", "risk": "high"}])
    first, second = ChangeTemplate.objects.order_by("name").values("name", "uuid", "risk", "created_at", "updated_at")
    assert first["uuid"] != second["uuid"]
    assert (first["name"], first["risk"], second["risk"]) == ("Renew certificates", "high", "low")
    assert first["created_at"] is not None
    assert second["updated_at"] is not None
