"""Signal receivers of the compliance area: a change to a control's evidence refreshes its snapshot.

A control saved (created, retired), a binding added or removed, an evidence file uploaded, reviewed or
revised: the control's evidence snapshot (compliance.models.ControlEvidenceSnapshot) is recomputed in
the same transaction as the change, so the status report shows it at once and a rolled-back change
leaves no trace. Thin, as house style asks: the work is compliance.services.evidence_snapshot_refresh_control.
Connected in compliance.apps.
"""

from __future__ import annotations

from typing import Any

from .models import Control, EvidenceBinding, EvidenceFile
from .services import evidence_snapshot_refresh_control


def on_control_saved(sender: type[Control], instance: Control, raw: bool = False, **kwargs: Any) -> None:
    if not raw:  # not while loading fixtures
        evidence_snapshot_refresh_control(control_id=instance.pk)


def on_evidence_saved(
    sender: type[EvidenceBinding | EvidenceFile],
    instance: EvidenceBinding | EvidenceFile,
    raw: bool = False,
    **kwargs: Any,
) -> None:
    if not raw:
        evidence_snapshot_refresh_control(control_id=instance.control_id)


def on_evidence_deleted(
    sender: type[EvidenceBinding | EvidenceFile],
    instance: EvidenceBinding | EvidenceFile,
    origin: Any = None,
    **kwargs: Any,
) -> None:
    # Deleted along with its control (a cascade): the control's snapshot goes with it, nothing to refresh.
    if isinstance(origin, Control) or getattr(origin, "model", None) is Control:
        return
    evidence_snapshot_refresh_control(control_id=instance.control_id)
