"""Compliance records: frameworks, controls and evidence, audits and findings, exceptions, reports."""

from .audits import (
    OPEN_FINDING_STATUSES,
    Audit,
    AuditKind,
    AuditStatus,
    Finding,
    FindingStatus,
    RemediationStep,
    Severity,
    TestMethod,
    TestOutcome,
    TestResult,
)
from .controls import (
    Control,
    ControlEvidenceSnapshot,
    ControlStatus,
    EvidenceBinding,
    EvidenceFile,
    ReviewState,
    TestFrequency,
)
from .exceptions import ComplianceException
from .frameworks import Framework, FrameworkSource, Requirement
from .notices import ComplianceNotice, NoticeKind
from .regulatory import ChangeStatus, RegulatoryChange, RegulatoryTask

__all__ = [
    "OPEN_FINDING_STATUSES",
    "Audit",
    "AuditKind",
    "AuditStatus",
    "ChangeStatus",
    "ComplianceException",
    "ComplianceNotice",
    "Control",
    "ControlEvidenceSnapshot",
    "ControlStatus",
    "EvidenceBinding",
    "EvidenceFile",
    "Finding",
    "FindingStatus",
    "Framework",
    "FrameworkSource",
    "NoticeKind",
    "RegulatoryChange",
    "RegulatoryTask",
    "RemediationStep",
    "Requirement",
    "ReviewState",
    "Severity",
    "TestFrequency",
    "TestMethod",
    "TestOutcome",
    "TestResult",
]
