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
- web-frontend: an SBOM inventory (django 4.2.10) for the "which services run ..." search;
- (``seed_governance``, once) a finished access review 20 days ago with two revocations (the opsgov
  account "former-contractor", deactivated at close, and a GitHub account from the CSV of other
  systems), four courses with 17 of 20 assignments completed (85 %), and a checkout pentest with
  one high finding in the findings list. The security incident runbook is monitoring's (its demo
  writes ``security-incident``, reviewed a month ago), so the gate's ``incident-runbook`` row passes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TextIO

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from opsgov.models import Lifecycle, Service
from opsgov.roles import (
    ALL_ROLES,
    COMPLIANCE_OFFICER,
    DEVOPS_LEAD,
    SECURITY_LEAD,
    SRE_LEAD,
    SUPPORT_TEAM,
    TECH_LEAD,
)

from . import access_reviews, alerts, assessments, services, training
from .models import AccessReviewCampaign, AssessmentKind, Asset, AssetKind, AssetMappingRule, Course, Finding

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
        seed_governance(stdout=stdout)
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
    seed_governance(stdout=stdout)
    stdout.write(
        f"Security: {Asset.objects.count()} assets, {Finding.objects.count()} findings from "
        f"{sum(asset.scans.count() for asset in Asset.objects.all())} scans.\n"
    )


# --- Access review, training and an assessment (security.access_reviews, .training, .assessments) --------

#: (slug, title, audience, recurrence, roles); 20 assignments over the seven demo role users.
COURSES = (
    ("security-awareness", "Security awareness", "security", "12 months", ALL_ROLES),
    ("phishing", "Phishing", "security", "6 months", ALL_ROLES),
    ("secure-coding", "Secure coding", "security", "12 months", (SRE_LEAD, DEVOPS_LEAD, TECH_LEAD, SECURITY_LEAD)),
    ("data-protection", "Data protection", "compliance", "12 months", (COMPLIANCE_OFFICER, SUPPORT_TEAM)),
)
#: Assignments left undone: 17 of 20 completed, 85 %.
NOT_DONE = {("secure-coding", TECH_LEAD), ("phishing", SUPPORT_TEAM), ("data-protection", SUPPORT_TEAM)}

OTHER_SYSTEMS_CSV = """system,account,person,entitlements,last_login
github,acme-ci-bot,devops_lead@example.com,write,{recent}
github,old-intern,intern@example.com,admin;write,{stale}
vpn,sre_lead,sre_lead@example.com,users,{recent}
"""


def seed_governance(*, stdout: TextIO) -> None:
    """A finished access review with two revocations, training at 85 %, a pentest with one finding."""
    if AccessReviewCampaign.objects.exists():
        return
    lead = _user(SECURITY_LEAD)
    if lead is None:
        return
    now = timezone.now()
    User = get_user_model()
    # Someone who left: an opsgov account the review revokes (deactivated when the campaign closes).
    leaver, _ = User.objects.get_or_create(
        username="former-contractor", defaults={"email": "contractor@example.com", "is_active": True}
    )
    leaver.groups.add(Group.objects.get(name=SUPPORT_TEAM))
    opened = now - timedelta(days=20)
    campaign = access_reviews.open_campaign(title="Access review (demo quarter)", actor=lead, now=opened)
    stamps = {"recent": (now - timedelta(days=2)).date(), "stale": (now - timedelta(days=200)).date()}
    access_reviews.import_accounts(campaign=campaign, text=OTHER_SYSTEMS_CSV.format(**stamps), now=opened)
    # The Security Lead's own row is decided by someone else (four eyes): the admin.
    second = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first() or _user(SRE_LEAD)
    for row in campaign.accounts.all():
        decision = "revoke" if row.account in ("former-contractor", "old-intern") else "keep"
        reviewer = second if row.user_id == lead.pk and second is not None else lead
        access_reviews.decide(
            row=row,
            decision=decision,
            comment="Left the company." if decision == "revoke" else "",
            actor=reviewer,
            now=opened + timedelta(days=5),
        )
    access_reviews.close_campaign(campaign=campaign, actor=lead, now=opened + timedelta(days=6))
    for slug, title, audience, recurrence, roles in COURSES:
        course = Course.objects.create(
            slug=slug,
            title=title,
            audience=audience,
            recurrence=recurrence,
            due_within_days=30,
            starts_at=now - timedelta(days=60),
        )
        course.roles.set(Group.objects.filter(name__in=roles))
        for role in roles:
            user = _user(role)
            if user is not None and (slug, role) not in NOT_DONE:
                training.record_completion(
                    course=course, user=user, completed_at=now - timedelta(days=10), actor=lead, now=now
                )
    asset = Asset.objects.filter(service__slug="checkout").order_by("name").first()
    if asset is not None:
        pentest = assessments.create_assessment(
            kind=AssessmentKind.PENTEST,
            title="Checkout external pentest",
            asset=asset,
            performed_by="Example Security GmbH",
            started_on=(now - timedelta(days=14)).date(),
            completed_on=(now - timedelta(days=7)).date(),
            actor=lead,
            now=now - timedelta(days=7),
        )
        assessments.record_finding(
            assessment=pentest,
            reference="PT-1",
            title="Order ids are guessable: another customer's order can be read (IDOR)",
            severity="high",
            recommendation="Check the order's owner on every read.",
            now=now - timedelta(days=2),
        )
    done = training.completion(now=now)
    stdout.write(
        f"Security: access review closed with {campaign.accounts.filter(decision='revoke').count()} revocations; "
        f"training {done.completed}/{done.assigned} completed.\n"
    )
