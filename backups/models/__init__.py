"""Models of the backups app: jobs, runs (and missed runs), restore points, integrity checks, restores and DR."""

from .jobs import BackupJob, Location, ServiceBackupScope, Tool, derive_location
from .notices import BackupFailureNotice
from .restores import ApprovalKind, DRDrill, DRDrillApproval, DRPlan, RestoreResult, RestoreTest
from .runs import FAILED_STATUSES, BackupPing, BackupRun, IntegrityCheck, RestorePoint, RunSource, RunStatus

__all__ = [
    "FAILED_STATUSES",
    "ApprovalKind",
    "BackupFailureNotice",
    "BackupJob",
    "BackupPing",
    "BackupRun",
    "DRDrill",
    "DRDrillApproval",
    "DRPlan",
    "IntegrityCheck",
    "Location",
    "RestorePoint",
    "RestoreResult",
    "RestoreTest",
    "RunSource",
    "RunStatus",
    "ServiceBackupScope",
    "Tool",
    "derive_location",
]
