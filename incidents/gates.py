"""Quality gates of the incidents & on-call area.

Until this area's records are built, the gate reports "no evidence", never pass.
"""

from opsgov.registry import NotTrackedGate
from opsgov.roles import SRE_LEAD, TECH_LEAD


class IncidentManagementGate(NotTrackedGate):
    key = "incident_management"
    step = 2
    title = "Incident management process active"
    owner_roles = (SRE_LEAD,)
    description = (
        "Every service has an escalation path with no on-call gaps in the next 7 days; response "
        "targets met; reviews done."
    )


class ContinuousImprovementGate(NotTrackedGate):
    key = "continuous_improvement"
    step = 4
    title = "Continuous improvement process active"
    owner_roles = (SRE_LEAD, TECH_LEAD)
    description = "Reviews produce action items, few are overdue, items are being closed."
