"""Demo security records for `manage.py seed_demo` (idempotent: nothing is added once the demo assets exist).

Every active demo service gets an image asset (through a mapping rule) scanned weekly by Trivy
over the last three months, all through the real import path (security.services.import_scan):

- a medium Django finding everywhere, fixed by a rescan eight weeks ago;
- checkout: a critical (CVE-2024-3094, xz) found five weeks ago and fixed by the rescan a day later
  (within its 48 hours);
- payments-ledger: a critical (CVE-2023-45853, zlib) found five days ago and still there: overdue;
- auth: a high (CVE-2024-2511, openssl) found two weeks ago, overdue, with its risk accepted
  (requested by the SRE Lead, approved by the Security Lead);
- checkout: a Falco alert two days ago, acknowledged in five minutes and escalated to a security
  incident (closed as a true positive by the Security Lead);
- web-frontend: an SBOM inventory (django 4.2.10) for the "which services run ..." search.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TextIO

from django.contrib.auth import get_user_model
from django.utils import timezone

from opsgov.models import Lifecycle, Service
from opsgov.roles import SECURITY_LEAD, SRE_LEAD

from . import alerts, services
from .models import Asset, AssetKind, AssetMappingRule, Finding

REGISTRY = "registry.example.com"
DJANGO = ("CVE-2024-27351", "django", "4.2.10", "MEDIUM", "pip")
XZ = ("CVE-2024-3094", "liblzma5", "5.6.0-0.2", "CRITICAL", "debian")
ZLIB = ("CVE-2023-45853", "zlib1g", "1:1.2.13.dfsg-1", "CRITICAL", "debian")
OPENSSL = ("CVE-2024-2511", "libssl3", "3.0.11-1~deb12u2", "HIGH", "debian")


def _report(name: str, vulns: list[tuple[str, str, str, str, str]], at: datetime) -> dict[str, Any]:
    targets: dict[str, list[dict[str, str]]] = {"debian": [], "pip": []}
    for vuln_id, package, version, severity, kind in vulns:
        targets[kind].append(
            {"VulnerabilityID": vuln_id, "PkgName": package, "InstalledVersion": version, "Severity": severity}
        )
    return {
        "SchemaVersion": 2,
        "CreatedAt": at.isoformat(),  # Trivy stamps each run: a rescan with the same findings is a new report
        "ArtifactName": name,
        "ArtifactType": "container_image",
        "Results": [
            {
                "Target": f"{name} (debian 12.5)",
                "Class": "os-pkgs",
                "Type": "debian",
                "Vulnerabilities": targets["debian"],
            },
            {"Target": "app/requirements.txt", "Class": "lang-pkgs", "Type": "pip", "Vulnerabilities": targets["pip"]},
        ],
    }


def _user(role: str) -> Any:
    return get_user_model().objects.filter(groups__name=role, is_active=True).order_by("pk").first()


def seed(*, stdout: TextIO) -> None:
    active = list(Service.objects.filter(lifecycle=Lifecycle.ACTIVE).order_by("slug"))
    if not active or Asset.objects.filter(name__startswith=f"{REGISTRY}/").exists():
        return
    now = timezone.now()
    for service in active:
        AssetMappingRule.objects.get_or_create(
            pattern=f"{REGISTRY}/{service.slug}:*", defaults={"service": service, "kind": AssetKind.IMAGE}
        )
    for service in active:
        name = f"{REGISTRY}/{service.slug}:1.0"
        events: list[tuple[Any, list[tuple[str, str, str, str, str]]]] = []
        for week in range(13, -1, -1):
            at = now - timedelta(days=7 * week, hours=1)
            base = [DJANGO] if week > 8 else []
            vulns = list(base)
            if service.slug == "checkout" and week == 5:
                vulns.append(XZ)
                # The fix shipped the next day: the rescan no longer lists it (within its 48 hours).
                events.append((at + timedelta(days=1), list(base)))
            if service.slug == "payments-ledger" and week == 0:
                vulns.append(ZLIB)
                # The critical arrived five days ago, between the weekly scans; nobody has fixed it.
                events.append((now - timedelta(days=5), [ZLIB]))
            if service.slug == "auth" and week <= 2:
                vulns.append(OPENSSL)
            events.append((at, vulns))
        for at, vulns in sorted(events, key=lambda event: event[0]):
            services.import_scan(report=_report(name, vulns, at), now=at)
    requester, approver = _user(SRE_LEAD), _user(SECURITY_LEAD)
    finding = Finding.objects.filter(vulnerability_id=OPENSSL[0], asset__service__slug="auth").first()
    if finding is not None and requester is not None and approver is not None and requester != approver:
        acceptance = services.acceptance_request(
            finding=finding,
            reason="The fixed openssl build is not in the base image yet; the upgrade is scheduled.",
            compensating_control="TLS 1.3 session resumption disabled at the gateway.",
            approver=approver,
            expires_at=now + timedelta(days=30),
            requested_by=requester,
            now=now - timedelta(days=1),
        )
        services.acceptance_approve(acceptance=acceptance, actor=approver, now=now - timedelta(hours=20))
    checkout = next((service for service in active if service.slug == "checkout"), None)
    if checkout is not None and approver is not None:
        # A Falco alert two days ago: acknowledged in five minutes, a true positive escalated to an incident.
        received = now - timedelta(days=2)
        (alert,) = alerts.receive(
            body={
                "time": received.isoformat(),
                "rule": "Read sensitive file untrusted",
                "priority": "Warning",
                "source": "syscall",
                "hostname": "node-3",
                "output": "Sensitive file opened for reading by non-trusted program (file=/etc/shadow)",
                "output_fields": {"fd.name": "/etc/shadow", "proc.name": "python3", "k8s.ns.name": "checkout"},
            },
            now=received,
        )
        alerts.acknowledge(alert=alert, actor=approver, now=received + timedelta(minutes=5))
        alerts.close(
            alert=alert,
            actor=approver,
            disposition="true_positive",
            notes="python3 in the checkout pod read /etc/shadow: not part of the app.",
            now=received + timedelta(minutes=40),
        )
    if any(service.slug == "web-frontend" for service in active):
        services.import_scan(
            report={
                "bomFormat": "CycloneDX",
                "specVersion": "1.6",
                "version": 1,
                "components": [
                    {"type": "library", "name": "django", "version": "4.2.10", "purl": "pkg:pypi/django@4.2.10"},
                    {"type": "library", "name": "requests", "version": "2.32.3", "purl": "pkg:pypi/requests@2.32.3"},
                ],
            },
            asset_name=f"{REGISTRY}/web-frontend:1.0",
            now=now - timedelta(hours=2),
        )
    stdout.write(
        f"Security: {Asset.objects.count()} assets, {Finding.objects.count()} findings from "
        f"{sum(asset.scans.count() for asset in Asset.objects.all())} scans.\n"
    )
