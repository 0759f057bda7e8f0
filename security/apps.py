"""security's app configuration: only what opsgov cannot discover (the audit trail).

opsgov.apps imports this app's gates, metrics and the other discovered modules, which register
themselves.
"""

from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "security"
    verbose_name = "Security operations"

    def ready(self) -> None:
        # Imported here: Django imports apps.py before any app's models are loaded.
        from auditlog.registry import auditlog

        from opsgov.events import subscribe_security_signals
        from opsgov.evidence import register_evidence
        from opsgov.registry import security

        from .directory import components, findings_past_sla
        from .models import (
            AccessReviewCampaign,
            Assessment,
            AssessmentFinding,
            Asset,
            AssetMappingRule,
            Course,
            Finding,
            ReviewedAccount,
            RiskAcceptance,
            Scan,
            TrainingRecord,
        )
        from .signals import handle_signal

        # Audited: what people decide. Findings and scans are written by imports (bulk) and are
        # their own record (each Scan keeps the report it came from).
        auditlog.register(Asset, exclude_fields=["updated_at", "last_scanned_at"])
        auditlog.register(AssetMappingRule, exclude_fields=["updated_at"])
        auditlog.register(RiskAcceptance, exclude_fields=["updated_at"])
        # Evidence: never deleted (opsgov.evidence).
        for model in (Scan, Finding, RiskAcceptance):
            register_evidence(model)
        # Access reviews, training and assessments: decisions and records people make (audited), kept as evidence.
        auditlog.register(AccessReviewCampaign, exclude_fields=["updated_at"])
        auditlog.register(ReviewedAccount, exclude_fields=["updated_at"])
        auditlog.register(Course, exclude_fields=["updated_at"], m2m_fields={"roles"})
        auditlog.register(TrainingRecord, exclude_fields=["updated_at"])
        auditlog.register(Assessment, exclude_fields=["updated_at"])
        for record in (AccessReviewCampaign, ReviewedAccount, TrainingRecord, AssessmentFinding):
            register_evidence(record)
        # opsgov's own signals (failed logins, lockouts, refused API requests) join the alert queue.
        subscribe_security_signals(handle_signal)
        # Maintenance asks for findings past SLA (patch obligations) and components (end-of-life table).
        security.provide(findings_past_sla=findings_past_sla, components=components)
