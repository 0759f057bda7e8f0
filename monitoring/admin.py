"""Admin of the monitoring app; each part registers its models in its own module."""

from .catalog import admin as catalog_admin  # noqa: F401 - registers the alert-rule catalog and runbooks
from .slos import admin as slo_admin  # noqa: F401 - registers SLOs, their status and the SLO engine's state
