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
from .patching import Host, ObligationSource, PatchClass, PatchObligation, PatchReport
from .windows import FreezePeriod, MaintenanceWindow, RecurrenceKind

__all__ = [
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
    "PatchObligation",
    "PatchReport",
    "RecurrenceKind",
    "UpgradePlan",
    "hash_token",
]
