"""What security answers maintenance through core's directory (opsgov.registry.security)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opsgov.registry import security
from opsgov.roles import SECURITY_LEAD
from security import services
from security.models import Finding
from tests.factories import ServiceFactory

from .support import trivy

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db

XZ = ("CVE-2024-3094", "xz", "5.6.0", "CRITICAL")
JINJA = ("CVE-2024-22195", "jinja2", "3.1.2", "MEDIUM")


@pytest.fixture
def two_services() -> tuple[Any, Any]:
    checkout = ServiceFactory.create(slug="checkout", name="Checkout")
    auth = ServiceFactory.create(slug="auth", name="Auth")
    for name, service in (("checkout-web", checkout), ("checkout-worker", checkout), ("auth-api", auth)):
        services.resolve_asset(name=name, create=True, service=service)
    return checkout, auth


def test_findings_past_sla_per_service_without_accepted_ones(two_services: tuple[Any, Any], make_user: Any) -> None:
    checkout, auth = two_services
    # The same critical on both checkout assets (one obligation), a medium (30 days) and one on auth.
    services.import_scan(report=trivy("app", [XZ, JINJA]), asset_name="checkout-web", now=NOW)
    services.import_scan(report=trivy("app", [XZ]), asset_name="checkout-worker", now=NOW)
    services.import_scan(report=trivy("app", [XZ]), asset_name="auth-api", now=NOW)
    ids = [checkout.pk, auth.pk]
    assert security.findings_past_sla(service_ids=ids, now=NOW + timedelta(hours=47)) == {}  # 48 h SLA

    later = NOW + timedelta(hours=49)
    answer = security.findings_past_sla(service_ids=ids, now=later)
    assert answer == {
        checkout.pk: [
            {
                "id": "CVE-2024-3094",
                "title": "CVE-2024-3094 in xz 5.6.0",
                "severity": "critical",
                "package": "xz 5.6.0",
                "fixed_version": "",
                "due_at": (NOW + timedelta(hours=48)).isoformat(),
                "url": "/security/findings/?asset=checkout-web&vulnerability=CVE-2024-3094",
            }
        ],
        auth.pk: [answer[auth.pk][0]],
    }
    assert answer[auth.pk][0]["url"] == "/security/findings/?asset=auth-api&vulnerability=CVE-2024-3094"

    # auth's finding accepted by a second Security Lead: it leaves the answer while the acceptance is valid.
    alice, bob = make_user("alice", SECURITY_LEAD), make_user("bob", SECURITY_LEAD)
    acceptance = services.acceptance_request(
        finding=Finding.objects.get(asset__name="auth-api"),
        reason="no exposure",
        compensating_control="network policy",
        approver=bob,
        expires_at=NOW + timedelta(days=5),
        requested_by=alice,
        now=NOW,
    )
    services.acceptance_approve(acceptance=acceptance, actor=bob, now=NOW)
    assert set(security.findings_past_sla(service_ids=ids, now=later)) == {checkout.pk}
    assert set(security.findings_past_sla(service_ids=ids, now=NOW + timedelta(days=6))) == {checkout.pk, auth.pk}
    # Only the services asked about.
    assert set(security.findings_past_sla(service_ids=[auth.pk], now=NOW + timedelta(days=6))) == {auth.pk}


def test_components_from_sboms_and_scans(two_services: tuple[Any, Any]) -> None:
    checkout, auth = two_services
    services.import_scan(report=trivy("app", [XZ, JINJA]), asset_name="checkout-web", now=NOW)
    services.import_scan(report=trivy("app", [XZ]), asset_name="auth-api", now=NOW)
    # xz fixed on auth-api by a rescan: it no longer runs there.
    services.import_scan(report=trivy("app", []), asset_name="auth-api", now=NOW + timedelta(hours=1))
    answer = security.components(service_ids=[checkout.pk, auth.pk])
    assert answer == {
        checkout.pk: [
            {"name": "jinja2", "version": "3.1.2", "purl": "pkg:pypi/jinja2@3.1.2", "asset": "checkout-web"},
            {"name": "xz", "version": "5.6.0", "purl": "pkg:pypi/xz@5.6.0", "asset": "checkout-web"},
        ]
    }
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "components": [
            {"type": "library", "name": "Django", "version": "4.2.10", "purl": "pkg:pypi/django@4.2.10"},
        ],
    }
    services.import_scan(report=bom, asset_name="auth-api", now=NOW + timedelta(hours=2))
    assert security.components(service_ids=[auth.pk]) == {
        auth.pk: [{"name": "Django", "version": "4.2.10", "purl": "pkg:pypi/django@4.2.10", "asset": "auth-api"}]
    }
