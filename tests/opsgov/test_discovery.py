"""Registration by discovery (opsgov.apps): each app's modules register themselves, in a stable order."""

from __future__ import annotations

from typing import Any

import pytest

from incidents.metrics import MTTA
from monitoring.metrics import AVAILABILITY
from opsgov import worker_hooks
from opsgov.dashboard import panels
from opsgov.prometheus import governance
from opsgov.registry import MetricDefinition, MetricRegistry, gates, metrics
from opsgov.reports.services import report_sections


def test_every_installed_app_contributes_by_its_modules_alone() -> None:
    assert [gate.key for gate in gates.all()] == [
        "monitoring",
        "incident_management",
        "maintenance",
        "continuous_improvement",
        "security_operations",
        "compliance",
        "support",
        "backup_dr",
    ]
    assert [metric.key for metric in metrics.all()][:5] == [
        "availability",
        "mtta",
        "mttr",
        "mtbf",
        "action_item_closing_rate",
    ]
    assert [panel.key for panel in panels.all()] == [
        "open-incidents",
        "on-call",
        "slos-at-risk",
        "maintenance",
        "support-queues",
        "security-findings",
        "security-alerts",
    ]
    assert [provider.key for provider in report_sections.for_kind("weekly")] == [
        "incidents",
        "slos-at-risk",
        "changes",
        "overdue-reviews",
        "overdue-action-items",
        "support",
    ]
    assert list(governance.collectors()) == ["core", "monitoring", "incidents"]


def test_metrics_are_listed_by_app_whatever_order_their_modules_were_imported_in() -> None:
    registry = MetricRegistry()
    extra = MetricDefinition(
        key="extra", title="Extra", unit="ratio", comparison=">", target=lambda: 0.5, compute=lambda **kwargs: []
    )
    for definition in (extra, MTTA, AVAILABILITY):
        registry.register(definition)
    # monitoring comes before incidents in INSTALLED_APPS; a metric of no app comes last.
    assert [metric.key for metric in registry.all()] == ["availability", "mtta", "extra"]


def test_worker_hooks_run_each_callback_once_with_the_workers_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_hooks, "_on_start", [])
    monkeypatch.setattr(worker_hooks, "_on_exit", [])
    calls: list[Any] = []

    def started(options: worker_hooks.WorkerOptions) -> None:
        calls.append(("start", options.batched_publishing))

    def exiting() -> None:
        calls.append("exit")

    for _ in range(2):  # registered once, however often an app asks
        worker_hooks.on_worker_start(started)
        worker_hooks.on_worker_exit(exiting)
    worker_hooks.worker_started(worker_hooks.WorkerOptions(batched_publishing=False))
    worker_hooks.worker_started()
    worker_hooks.worker_exiting()
    assert calls == [("start", False), ("start", True), "exit"]
