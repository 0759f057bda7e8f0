"""The security app's models, one module per sub-domain."""

from .access import (
    OPSGOV_SYSTEM,
    AccessDecision,
    AccessReviewCampaign,
    AccessReviewNotice,
    CampaignStatus,
    ReviewedAccount,
)
from .alerts import AlertSource, AlertStatus, Disposition, SecurityAlert
from .assessments import Assessment, AssessmentFinding, AssessmentKind
from .assets import Asset, AssetKind, AssetMappingRule, Component
from .findings import (
    SEVERITY_ORDER,
    Finding,
    FindingSource,
    FindingStatus,
    RiskAcceptance,
    Scan,
    ScanFormat,
    Severity,
    VulnerabilityAlias,
)
from .training import CompletionSource, Course, TrainingRecord

__all__ = [
    "OPSGOV_SYSTEM",
    "SEVERITY_ORDER",
    "AccessDecision",
    "AccessReviewCampaign",
    "AccessReviewNotice",
    "AlertSource",
    "AlertStatus",
    "Assessment",
    "AssessmentFinding",
    "AssessmentKind",
    "Asset",
    "AssetKind",
    "AssetMappingRule",
    "CampaignStatus",
    "CompletionSource",
    "Component",
    "Course",
    "Disposition",
    "Finding",
    "FindingSource",
    "FindingStatus",
    "ReviewedAccount",
    "RiskAcceptance",
    "Scan",
    "ScanFormat",
    "SecurityAlert",
    "Severity",
    "TrainingRecord",
    "VulnerabilityAlias",
]
