"""The security app's models, one module per sub-domain."""

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
    "Asset",
    "AssetKind",
    "AssetMappingRule",
    "Component",
    "Finding",
    "FindingSource",
    "FindingStatus",
    "RiskAcceptance",
    "Scan",
    "ScanFormat",
    "Severity",
    "VulnerabilityAlias",
]
