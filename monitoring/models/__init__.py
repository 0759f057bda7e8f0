"""Models of the monitoring app (step 1): SLOs, their SLI data and the SLO engine's bookkeeping."""

from .engine import SLIDayRollup, SLIDirtyHour, SLIHourRollup, SLOAlertState, SLOEngineState
from .slos import SLO, SLIBucket, SLIKind, SLISource, SLOStatus, WindowKind

__all__ = [
    "SLO",
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
