"""Compliance & audit: see DESIGN.md for what this app owns."""

from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance & audit"

    def ready(self) -> None:
        # Imported here: Django imports apps.py before any app's models are loaded.
        from auditlog.registry import auditlog
        from django.db.models.signals import post_delete, post_save

        from opsgov.evidence import register_evidence

        from . import models, receivers

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
        # A change to a control's evidence refreshes its evidence snapshot (compliance.receivers).
        post_save.connect(receivers.on_control_saved, sender=models.Control, dispatch_uid="compliance-snapshot-control")
        for changing in (models.EvidenceBinding, models.EvidenceFile):
            post_save.connect(
                receivers.on_evidence_saved, sender=changing, dispatch_uid=f"compliance-snapshot-{changing.__name__}"
            )
            post_delete.connect(
                receivers.on_evidence_deleted,
                sender=changing,
                dispatch_uid=f"compliance-snapshot-{changing.__name__}-deleted",
            )
