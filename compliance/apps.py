"""Compliance & audit: see DESIGN.md for what this app owns."""

from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance & audit"

    def ready(self) -> None:
        # Imported here: Django imports apps.py before any app's models are loaded.
        from auditlog.registry import auditlog

        from opsgov.evidence import register_evidence

        from . import models

        auditlog.register(models.Framework)
        auditlog.register(models.Control, m2m_fields={"requirements", "services"}, exclude_fields=["updated_at"])
        for governed in (
            models.EvidenceBinding,
            models.EvidenceFile,
            models.Audit,
            models.TestResult,
            models.Finding,
            models.RemediationStep,
            models.ComplianceException,
            models.RegulatoryChange,
            models.RegulatoryTask,
        ):
            auditlog.register(governed, exclude_fields=["updated_at"])
        # What the gate, the reports and the auditors rely on: never deleted (opsgov.evidence); retired instead.
        for evidence in (
            models.Framework,
            models.Requirement,
            models.EvidenceFile,
            models.Audit,
            models.TestResult,
            models.Finding,
            models.RemediationStep,
            models.ComplianceException,
        ):
            register_evidence(evidence)
