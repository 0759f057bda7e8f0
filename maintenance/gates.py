"""Quality gate of the maintenance & patching area.

Until this area's records are built, the gate reports "no evidence", never pass.
"""

from opsgov.registry import NotTrackedGate, gates
from opsgov.roles import DEVOPS_LEAD


@gates.register
class MaintenanceGate(NotTrackedGate):
    key = "maintenance"
    step = 3
    title = "Maintenance schedule defined and followed"
    owner_roles = (DEVOPS_LEAD,)
    description = "Every cadence scheduled per service, nothing overdue, windows approved before they start."
