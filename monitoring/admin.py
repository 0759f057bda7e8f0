"""Admin of the monitoring app; each part registers its models in its own module."""

from . import (
    catalog_admin,  # noqa: F401 - registers the alert-rule catalog and runbooks
    slo_admin,  # noqa: F401 - registers SLOs, their status and the SLO engine's state
)
