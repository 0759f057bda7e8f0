"""Models of the monitoring app (step 1): SLOs and their SLI data; more modules join as the app grows."""

from .slos import SLO, SLIBucket, SLIKind, SLISource, SLOStatus, WindowKind

__all__ = ["SLO", "SLIBucket", "SLIKind", "SLISource", "SLOStatus", "WindowKind"]
