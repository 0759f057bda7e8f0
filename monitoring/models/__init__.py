"""Models of the monitoring app (step 1): SLOs, SLI data and the engine's bookkeeping, the rule catalog, checks."""

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
from .engine import SLIDayRollup, SLIDirtyHour, SLIHourRollup, SLOAlertState, SLOEngineState
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
    "SLIDayRollup",
    "SLIDirtyHour",
    "SLIHourRollup",
    "SLIKind",
    "SLISource",
    "SLOAlertState",
    "SLOEngineState",
    "SLOStatus",
    "WindowKind",
]
