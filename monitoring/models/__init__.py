"""Models of the monitoring app (step 1): SLOs and their SLI data; more modules join as the app grows."""

from .catalog import AlertRule, RuleFile, RuleGroup, Runbook
from .slos import SLO, SLIBucket, SLIKind, SLISource, SLOStatus, WindowKind

__all__ = [
    "SLO",
    "AlertRule",
    "RuleFile",
    "RuleGroup",
    "Runbook",
    "SLIBucket",
    "SLIKind",
    "SLISource",
    "SLOStatus",
    "WindowKind",
]
