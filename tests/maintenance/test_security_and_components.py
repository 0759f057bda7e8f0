"""What the security area answers through opsgov.registry.security: findings past their SLA become
security-critical obligations, and SBOM components (with those of patch reports) feed the end-of-life check.

security provides the real lookups in its own branch; these tests install a provider of their own in the
registry, as monitoring's error budgets are tested in test_changes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from maintenance import selectors, services
from maintenance.models import Component, ObligationSource, PatchObligation
from opsgov.registry import security
from tests.factories import ServiceFactory

from .support import utc

pytestmark = pytest.mark.django_db

T0 = utc(2026, 11, 2, 9, 0)


@dataclass
class SecurityArea:
    findings: dict[int, list[dict[str, str]]] = field(default_factory=dict)
    components: dict[int, list[dict[str, str]]] = field(default_factory=dict)
    asked: list[list[int]] = field(default_factory=list)


@pytest.fixture
def area() -> Iterator[SecurityArea]:
    state = SecurityArea()
    previous = (security._findings, security._components)

    def findings_past_sla(*, service_ids: list[int], now: object) -> dict[int, list[dict[str, str]]]:
        state.asked.append(sorted(service_ids))
        return {i: state.findings[i] for i in service_ids if i in state.findings}

    def components(*, service_ids: list[int]) -> dict[int, list[dict[str, str]]]:
        return {i: state.components[i] for i in service_ids if i in state.components}

    security.provide(findings_past_sla=findings_past_sla, components=components)
    yield state
    security._findings, security._components = previous


def finding(fid: str, package: str, fixed: str, due: str) -> dict[str, str]:
    return {
        "id": fid,
        "title": f"CVE in {package}",
        "severity": "critical",
        "package": package,
        "fixed_version": fixed,
        "due_at": due,
        "url": f"/security/findings/{fid}/",
    }


def test_findings_past_sla_become_late_security_critical_obligations_until_they_are_gone(area: SecurityArea) -> None:
    checkout = ServiceFactory.create(slug="checkout")
    ServiceFactory.create(slug="old", lifecycle="deprecated")
    area.findings[checkout.pk] = [
        finding("41", "openssl", "3.0.13", "2026-10-30T09:00:00Z"),
        finding("42", "openssl", "3.0.13", "2026-10-31T09:00:00Z"),  # the same update: one obligation
        finding("43", "jinja2", "3.1.4", "2026-11-01T00:00:00Z"),
    ]
    assert services.sync_security_findings(now=T0) == 2
    assert area.asked == [[checkout.pk]]  # active services only
    rows = {o.package: o for o in PatchObligation.objects.filter(source=ObligationSource.SECURITY)}
    assert set(rows) == {"openssl", "jinja2"}
    assert rows["openssl"].asset == "security:checkout"
    assert (rows["openssl"].patch_class, rows["openssl"].version) == ("security_critical", "3.0.13")
    assert rows["openssl"].due_at == utc(2026, 10, 30, 9)
    assert rows["openssl"].met_at is None
    # Twice is the same.
    services.sync_security_findings(now=T0 + timedelta(hours=1))
    assert PatchObligation.objects.filter(source=ObligationSource.SECURITY).count() == 2
    # openssl fixed: met at the sync that no longer lists it, after its due date (late).
    area.findings[checkout.pk] = [finding("43", "jinja2", "3.1.4", "2026-11-01T00:00:00Z")]
    services.sync_security_findings(now=T0 + timedelta(hours=2))
    openssl = PatchObligation.objects.get(package="openssl")
    assert openssl.met_at == T0 + timedelta(hours=2)
    figures = selectors.patch_compliance(start=T0 - timedelta(days=30), end=T0 + timedelta(days=1))
    compliance = {row.scope: row for row in figures}
    assert len(compliance) == len(figures)  # one figure per scope: the asset is not named like the service scope
    assert (compliance["service:checkout"].met, compliance["service:checkout"].counted) == (0, 2)
    assert (compliance["security:checkout"].met, compliance["security:checkout"].counted) == (0, 2)
    overdue = [o.package for o in selectors.overdue_critical(now=T0 + timedelta(hours=3))]
    assert overdue == ["jinja2"]


def test_without_a_provider_nothing_is_created() -> None:
    ServiceFactory.create(slug="checkout")
    assert services.sync_security_findings(now=T0) == 0
    assert not PatchObligation.objects.exists()


def test_sbom_components_of_products_in_the_eol_table_feed_the_eol_check(area: SecurityArea) -> None:
    service = ServiceFactory.create(slug="ledger")
    services.import_eol(
        product="postgresql", rows=[{"cycle": "13", "eol": "2025-11-13"}, {"cycle": "17", "eol": "2029-11-08"}]
    )
    area.components[service.pk] = [
        {"name": "PostgreSQL", "version": "13.16", "purl": "pkg:generic/postgresql@13.16", "asset": "db-1"},
        {"name": "left-pad", "version": "1.3.0", "purl": "pkg:npm/left-pad@1.3.0", "asset": "web"},
    ]
    assert services.sync_sbom_components() == 1
    component = Component.objects.get()
    assert (component.product, component.version, component.source) == ("postgresql", "13.16", "sbom")
    rows = selectors.components_near_eol(now=T0)
    assert [(r.component.pk, r.cycle, r.reached, r.planned) for r in rows] == [(component.pk, "13", True, False)]


def test_patch_reports_record_components_named_in_the_eol_table() -> None:
    service = ServiceFactory.create(slug="ledger")
    services.import_eol(product="postgresql", rows=[{"cycle": "15", "eol": "2027-11-11"}])
    services.import_eol(product="openssl", rows=[{"cycle": "3.0", "eol": "2026-09-07"}])
    host, _ = services.create_host(name="db-1", service=service)
    apt = (
        "Inst postgresql-15 [15.8-0+deb12u1] (15.10-0+deb12u1 Debian-Security:12/stable-security [amd64])\n"
        "Inst openssl [3.0.11-1~deb12u2] (3.0.13-1~deb12u1 Debian-Security:12/stable-security [amd64])\n"
        "Inst tzdata [2024a-0+deb12u1] (2025a-0+deb12u1 Debian:12.10/stable-updates [all])\n"
    )
    services.record_patch_report(host=host, apt_simulate=apt, received_at=T0)
    found = {c.product: (c.version, c.source) for c in Component.objects.filter(service=service)}
    assert found == {"postgresql": ("15.8", "patch_report"), "openssl": ("3.0.11", "patch_report")}
    near = {r.component.product: r.reached for r in selectors.components_near_eol(now=T0)}
    assert near == {"openssl": True}


@pytest.mark.parametrize(
    ("debian", "upstream"),
    [("1:2.39.2-1.1", "2.39.2"), ("15.8-0+deb12u1", "15.8"), ("3.0.11-1~deb12u2", "3.0.11"), ("2024a", "2024a")],
)
def test_upstream_versions_drop_the_epoch_and_the_debian_revision(debian: str, upstream: str) -> None:
    assert services.upstream_version(debian) == upstream
