"""Models of the monitoring app (step 1): SLOs and SLI data, the alert-rule catalog and runbooks, synthetic checks."""

from .catalog import AlertRule, RuleFile, RuleGroup, Runbook
from .checks import (
    CheckFlip,
    CheckStatus,
    FlipReason,
    Heartbeat,
    HeartbeatPing,
    HttpCheck,
    HttpCheckResult,
    HttpMethod,
    PingKind,
)
from .slos import SLO, SLIBucket, SLIKind, SLISource, SLOStatus, WindowKind

__all__ = [
    "SLO",
    "AlertRule",
    "CheckFlip",
    "CheckStatus",
    "FlipReason",
    "Heartbeat",
    "HeartbeatPing",
    "HttpCheck",
    "HttpCheckResult",
    "HttpMethod",
    "PingKind",
    "RuleFile",
    "RuleGroup",
    "Runbook",
    "SLIBucket",
    "SLIKind",
    "SLISource",
    "SLOStatus",
    "WindowKind",
]
