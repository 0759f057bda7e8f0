"""Quality gate of the security operations area.

Until this area's records are built, the gate reports "no evidence", never pass.
"""

from opsgov.registry import NotTrackedGate, gates
from opsgov.roles import SECURITY_LEAD


@gates.register
class SecurityOperationsGate(NotTrackedGate):
    key = "security_operations"
    step = 5
    title = "Security operations running"
    owner_roles = (SECURITY_LEAD,)
    description = "Vulnerabilities fixed within their SLA, access reviews done on time, security alerts triaged."
