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
from .controls import Control, ControlStatus, EvidenceBinding, EvidenceFile, ReviewState, TestFrequency
from .exceptions import ComplianceException
from .frameworks import Framework, FrameworkSource, Requirement

__all__ = [
    "OPEN_FINDING_STATUSES",
    "Audit",
    "AuditKind",
    "AuditStatus",
    "ComplianceException",
    "Control",
    "ControlStatus",
    "EvidenceBinding",
    "EvidenceFile",
    "Finding",
    "FindingStatus",
    "Framework",
    "FrameworkSource",
    "RemediationStep",
    "Requirement",
    "ReviewState",
    "Severity",
    "TestFrequency",
    "TestMethod",
    "TestOutcome",
    "TestResult",
]
