"""Maintenance records: windows and freezes, change records, cadence logs, hosts and patch obligations."""

from .cadence import LogOutcome, LogSource, MaintenanceAutomation, MaintenanceLog
from .changes import (
    STATE_ORDER,
    ApprovalReason,
    ChangeApproval,
    ChangeCategory,
    ChangeIncidentLink,
    ChangeIntegration,
    ChangeKind,
    ChangeOutcome,
    ChangeRecord,
    ChangeRisk,
    ChangeSource,
    ChangeState,
    ChangeTemplate,
    hash_token,
)
from .lifecycle import Component, EndOfLife, UpgradePlan
from .patching import (
    NOT_MET_IN_TIME,
    Host,
    ObligationSource,
    PatchClass,
    PatchComplianceRollup,
    PatchObligation,
    PatchReport,
)
from .windows import FreezePeriod, MaintenanceWindow, RecurrenceKind

__all__ = [
    "NOT_MET_IN_TIME",
    "STATE_ORDER",
    "ApprovalReason",
    "ChangeApproval",
    "ChangeCategory",
    "ChangeIncidentLink",
    "ChangeIntegration",
    "ChangeKind",
    "ChangeOutcome",
    "ChangeRecord",
    "ChangeRisk",
    "ChangeSource",
    "ChangeState",
    "ChangeTemplate",
    "Component",
    "EndOfLife",
    "FreezePeriod",
    "Host",
    "LogOutcome",
    "LogSource",
    "MaintenanceAutomation",
    "MaintenanceLog",
    "MaintenanceWindow",
    "ObligationSource",
    "PatchClass",
    "PatchComplianceRollup",
    "PatchObligation",
    "PatchReport",
    "RecurrenceKind",
    "UpgradePlan",
    "hash_token",
]
