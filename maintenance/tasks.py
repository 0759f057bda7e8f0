"""Celery tasks of maintenance. The metric cycle runs the same sync first (patch_compliance's prepare)."""

from __future__ import annotations

from opsgov.celery_tasks import opsgov_task

from . import services


@opsgov_task("maintenance.sync_security", time_limit=300, soft_time_limit=270)
def sync_security() -> dict[str, int]:
    """Security findings past their SLA as obligations, and SBOM components for the end-of-life check."""
    return {"findings": services.sync_security_findings(), "components": services.sync_sbom_components()}
