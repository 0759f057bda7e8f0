"""Quality gate of the compliance & audit area.

Until this area's records are built, the gate reports "no evidence", never pass.
"""

from opsgov.registry import NotTrackedGate, gates
from opsgov.roles import COMPLIANCE_OFFICER


@gates.register
class ComplianceGate(NotTrackedGate):
    key = "compliance"
    step = 6
    title = "Compliance monitoring active"
    owner_roles = (COMPLIANCE_OFFICER,)
    description = (
        "Every control has fresh evidence, no finding past due, exceptions approved and unexpired, "
        "an audit within 12 months."
    )
