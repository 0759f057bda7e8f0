"""Scans (imported reports), findings (one flaw in one package of one asset) and risk acceptances."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from opsgov.models import FourEyesException, TimeStampedModel, four_eyes_constraints

from .assets import Asset


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"
    INFO = "info", "Info"


#: Most severe first (for sorting and "at least").
SEVERITY_ORDER = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]


class ScanFormat(models.TextChoices):
    TRIVY = "trivy", "Trivy JSON (SchemaVersion 2)"
    TRIVY_LEGACY = "trivy-legacy", "Trivy JSON (before 0.20, a list of results)"
    GRYPE = "grype", "Grype JSON"
    PIP_AUDIT = "pip-audit", "pip-audit JSON"
    OSV_SCANNER = "osv-scanner", "osv-scanner JSON"
    CYCLONEDX = "cyclonedx", "CycloneDX BOM (1.4-1.6, with VEX)"
    DEPENDABOT = "dependabot", "Dependabot alert JSON"


class Scan(models.Model):
    """One imported report, kept as received; it covered `scopes` (scanner + target) of its asset."""

    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="scans")
    format = models.CharField(max_length=16, choices=ScanFormat.choices)
    scopes = models.JSONField(
        default=list,
        blank=True,
        help_text="The scopes (scanner:target) this report covered: their findings not in it are fixed.",
    )
    report = models.JSONField(help_text="The report as received.")
    report_sha256 = models.CharField(max_length=64)
    reported_at = models.DateTimeField(
        null=True, blank=True, help_text="The scanner's own timestamp (sender's clock: shown, not computed with)."
    )
    imported_at = models.DateTimeField(default=timezone.now, help_text="When opsgov imported it.")
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    findings_seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0, help_text="Findings it recorded for the first time.")
    reopened = models.PositiveIntegerField(default=0)
    fixed = models.PositiveIntegerField(default=0, help_text="Open findings of its scopes it no longer listed.")
    components = models.PositiveIntegerField(default=0, help_text="SBOM components it stored.")

    class Meta:
        ordering = ["-imported_at", "-id"]
        indexes = [
            models.Index(fields=["asset", "-imported_at"], name="security_scan_asset_idx"),
            models.Index(fields=["asset", "report_sha256"], name="security_scan_digest_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_format_display()} scan of {self.asset} #{self.pk}"


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    FIXED = "fixed", "Fixed"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class FindingSource(models.TextChoices):
    SCANNER = "scanner", "Scanner"
    ASSESSMENT = "assessment", "Assessment"


class Finding(TimeStampedModel):
    """One vulnerability (canonical id, its aliases merged) in one package of one asset.

    `open_scopes` lists the scopes (scanner:target) whose latest scan still reported it: it is
    fixed when the last of them is scanned again without it, never because another scanner or
    another target omitted it. `due_at` follows the policy's SLA for its severity (opsgov.sla).
    """

    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="findings")
    package_key = models.CharField(
        max_length=500, help_text="purl without qualifiers, or ecosystem:name@version: the package's identity."
    )
    package_name = models.CharField(max_length=300)
    package_version = models.CharField(max_length=200, blank=True)
    purl = models.CharField(max_length=1000, blank=True)
    vulnerability_id = models.CharField(max_length=100, help_text="Canonical id: CVE, else GHSA, else the first id.")
    aliases = models.JSONField(default=list, blank=True, help_text="Every id this flaw arrived under.")
    title = models.CharField(max_length=500, blank=True)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    severity_source = models.CharField(
        max_length=40, blank=True, help_text="Where the severity came from: scanner, cvss, alias, policy default."
    )
    fixed_versions = models.CharField(max_length=300, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=FindingSource.choices, default=FindingSource.SCANNER)
    status = models.CharField(max_length=16, choices=FindingStatus.choices, default=FindingStatus.OPEN)
    justification = models.TextField(blank=True, help_text="Why it is not applicable (VEX justification, dismissal).")
    open_scopes = models.JSONField(default=list, blank=True)
    first_seen_at = models.DateTimeField(help_text="When opsgov first recorded it.")
    last_seen_at = models.DateTimeField(help_text="When a report last listed it.")
    fixed_at = models.DateTimeField(null=True, blank=True)
    reopened_at = models.DateTimeField(null=True, blank=True)
    reopen_count = models.PositiveIntegerField(default=0)
    sla_started_at = models.DateTimeField(help_text="Start of its SLA clock (policy: detection or publication).")
    due_at = models.DateTimeField(null=True, blank=True, help_text="When its SLA falls due; empty: no SLA.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="security_findings"
    )

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "package_key", "vulnerability_id"], name="security_finding_identity"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "severity", "due_at"], name="security_finding_open_idx"),
            # The findings page's order (due first) and the API's cursor (newest first).
            models.Index(fields=["due_at", "id"], name="security_finding_due_idx"),
            models.Index(fields=["first_seen_at", "id"], name="security_finding_seen_idx"),
            models.Index(fields=["vulnerability_id"], name="security_finding_vuln_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.vulnerability_id} in {self.package_name} {self.package_version} ({self.asset})"

    def is_overdue(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        end = self.fixed_at if self.status == FindingStatus.FIXED else now
        return self.due_at is not None and end is not None and end > self.due_at


class VulnerabilityAlias(models.Model):
    """Every id a flaw arrived under, mapped to its canonical id, so later reports that name only an
    alias (a GHSA, a PYSEC) land on the same finding."""

    alias = models.CharField(max_length=100, unique=True)
    canonical = models.CharField(max_length=100, db_index=True)
    severity = models.CharField(max_length=8, choices=Severity.choices, blank=True)

    def __str__(self) -> str:
        return f"{self.alias} -> {self.canonical}"


class RiskAcceptance(FourEyesException):
    """Accepting one finding's risk until it expires: opsgov's one exception concept (four eyes).

    It counts from approval by the named approver (a Security Lead who is not the requester) until
    it expires or is revoked; while it counts, the finding leaves the overdue count. The columns,
    state and rules are core's (opsgov.models.FourEyesException, opsgov.exceptions); the columns
    redeclared here keep their help texts and reverse names, so the table is as it was.
    """

    finding = models.ForeignKey(Finding, on_delete=models.PROTECT, related_name="acceptances")
    reason = models.TextField(help_text="Why the finding is not fixed now.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="risk_acceptances_requested"
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="risk_acceptances_to_approve",
        help_text="A Security Lead other than the requester.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = four_eyes_constraints("riskacceptance")

    def __str__(self) -> str:
        return f"Risk acceptance #{self.pk} of {self.finding_id}"
