"""Quality gate of the backups & dr area.

Until this area's records are built, the gate reports "no evidence", never pass.
"""

from opsgov.registry import NotTrackedGate, gates
from opsgov.roles import DEVOPS_LEAD, SRE_LEAD


@gates.register
class BackupDrGate(NotTrackedGate):
    key = "backup_dr"
    step = 8
    title = "Backup and DR validated"
    owner_roles = (SRE_LEAD, DEVOPS_LEAD)
    description = "Each policy backed up on time, restore tested, DR drill within the quarter with RTO/RPO met."
