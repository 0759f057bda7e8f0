"""Upgrading to the patch-compliance rollup (maintenance 0005) counts the obligations already recorded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from maintenance import compliance
from maintenance.models import PatchComplianceRollup

BEFORE = [("maintenance", "0004_security_obligations_and_report_components")]
AFTER = [("maintenance", "0005_patch_compliance_rollup")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_rollup_with_what_rebuild_computes() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    obligation = old.get_model("maintenance", "PatchObligation")
    due = datetime(2026, 5, 10, 12, tzinfo=UTC)
    rows = [  # (asset, met at): in time, late, open, another asset in time on another day
        ("host:web-1", datetime(2026, 5, 9, 8, tzinfo=UTC)),
        ("host:web-1", datetime(2026, 5, 11, 8, tzinfo=UTC)),
        ("host:web-1", None),
        ("host:db-1", datetime(2026, 5, 8, 23, tzinfo=UTC)),
    ]
    for index, (asset, met_at) in enumerate(rows):
        obligation.objects.create(
            asset=asset, source="apt", package=f"pkg{index}", version="2", patch_class="os",
            first_detected_at=datetime(2026, 5, 1, tzinfo=UTC), due_at=due, met_at=met_at,
        )  # fmt: skip

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    migrated = sorted(PatchComplianceRollup.objects.values_list("asset", "due_day", "met_day", "obligations"))

    assert [(asset, str(due_day), str(met_day), count) for asset, due_day, met_day, count in migrated] == [
        ("host:db-1", "2026-05-10", "2026-05-08", 1),
        ("host:web-1", "2026-05-10", "1970-01-01", 2),  # late and open: not met in time
        ("host:web-1", "2026-05-10", "2026-05-09", 1),
    ]
    assert compliance.rebuild() == 3  # the same rows as a rebuild from scratch
    assert sorted(PatchComplianceRollup.objects.values_list("asset", "due_day", "met_day", "obligations")) == migrated

    MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
