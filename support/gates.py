"""Quality gate of the support area.

Until this area's records are built, the gate reports "no evidence", never pass.
"""

from opsgov.registry import NotTrackedGate, gates
from opsgov.roles import PRODUCT_OWNER, SUPPORT_TEAM


@gates.register
class SupportGate(NotTrackedGate):
    key = "support"
    step = 7
    title = "Support process established"
    owner_roles = (SUPPORT_TEAM, PRODUCT_OWNER)
    description = "SLA attainment and satisfaction on target."
