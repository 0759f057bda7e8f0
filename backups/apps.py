"""Backups & DR: see DESIGN.md for what this app owns (issue 14).

opsgov.apps discovers gates, metrics and tasks; what is left is wiring: backup jobs as a receiver of the
core ping grammar (opsgov.pings), the audit trail and the evidence registry.
"""

from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"
    verbose_name = "Backups & DR"

    def ready(self) -> None:
        # Imported here: Django imports apps.py before any app's models are loaded.
        from auditlog.registry import auditlog

        from opsgov.evidence import register_evidence
        from opsgov.pings import PingReceiver, receivers

        from . import models
        from .services import handle_owned_ping, handle_ping

        receivers.register(
            PingReceiver(
                key="backups",
                handle=handle_ping,
                description="backup jobs",
                model=models.BackupJob,
                handle_owned=handle_owned_ping,
            )
        )
        auditlog.register(
            models.BackupJob,
            exclude_fields=[
                "materialised_until",
                "n_pings",
                "n_rate_limited",
                "consecutive_missed",
                "failure_notified_at",
                "incident_open",
                "wal_archive_max",
                "encrypted",
                "last_success_at",
            ],
        )
        for governed in (models.RestoreTest, models.DRPlan, models.DRDrill, models.DRDrillApproval):
            auditlog.register(governed)
        for evidence in (
            models.BackupRun,
            models.RestoreTest,
            models.DRDrill,
            models.DRDrillApproval,
            models.IntegrityCheck,
        ):
            register_evidence(evidence)
