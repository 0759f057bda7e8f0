"""Quality gate of the monitoring & slos area.

Until this area's records are built, the gate reports "no evidence", never pass.
"""

from opsgov.registry import NotTrackedGate
from opsgov.roles import SRE_LEAD


class MonitoringGate(NotTrackedGate):
    key = "monitoring"
    step = 1
    title = "Monitoring and alerting active"
    owner_roles = (SRE_LEAD,)
    description = (
        "Every active service has an SLO with fresh SLI data, alert rules that each carry a "
        "runbook, and someone on call now."
    )
