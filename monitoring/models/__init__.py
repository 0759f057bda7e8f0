"""Models of the monitoring app (step 1): SLOs and their SLI data; more modules join as the app grows."""

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

__all__ = ["SLO", "SLIBucket", "SLIKind", "SLISource", "SLOStatus", "WindowKind"]
# Synthetic checks (monitoring.models.checks).
__all__ += [
    "CheckFlip",
    "CheckStatus",
    "FlipReason",
    "Heartbeat",
    "HeartbeatPing",
    "HttpCheck",
    "HttpCheckResult",
    "HttpMethod",
    "PingKind",
]
