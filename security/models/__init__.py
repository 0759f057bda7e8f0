"""The security app's models, one module per sub-domain."""

from .alerts import AlertSource, AlertStatus, Disposition, SecurityAlert
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

__all__ = [
    "SEVERITY_ORDER",
    "AlertSource",
    "AlertStatus",
    "Asset",
    "AssetKind",
    "AssetMappingRule",
    "Component",
    "Disposition",
    "Finding",
    "FindingSource",
    "FindingStatus",
    "RiskAcceptance",
    "Scan",
    "ScanFormat",
    "SecurityAlert",
    "Severity",
    "VulnerabilityAlias",
]
