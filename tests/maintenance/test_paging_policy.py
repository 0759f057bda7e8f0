"""The maintenance policy's paging and metric rules (enforced by incidents; see tests/incidents)."""

from __future__ import annotations

import pytest

from opsgov.policy import MaintenancePolicy, PolicyError, parse_policy


def test_by_default_sev1_pages_during_maintenance_and_alerts_still_count() -> None:
    policy = MaintenancePolicy()
    assert policy.pages_during_maintenance == ["SEV-1"]
    assert policy.maintenance_alerts_count_in_metrics is True


def test_the_policy_file_sets_the_paging_severities() -> None:
    policy = parse_policy(
        {"maintenance": {"pages_during_maintenance": [], "maintenance_alerts_count_in_metrics": False}}
    )
    assert policy.maintenance.pages_during_maintenance == []
    assert policy.maintenance.maintenance_alerts_count_in_metrics is False


def test_a_paging_list_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(PolicyError, match="pages_during_maintenance"):
        parse_policy({"maintenance": {"pages_during_maintenance": "SEV-1"}})
