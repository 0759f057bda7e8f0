"""docs/grafana/opsgov-dashboard.json: valid, on a Prometheus datasource variable, over metrics /metrics exposes."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.prometheus_server import PROMTOOL, binary

pytestmark = pytest.mark.django_db

DASHBOARD = Path(settings.BASE_DIR) / "docs" / "grafana" / "opsgov-dashboard.json"
METRIC = re.compile(r"\bopsgov_[a-z0-9_]+\b")
#: Values the dashboard's variables take, to check its expressions as Prometheus would run them.
VARIABLES = {"$service": ".*", "$window": "30d", "$burn_window": "1h"}


def load() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def expressions(dashboard: dict[str, Any]) -> list[str]:
    found = [target["expr"] for panel in panels(dashboard) for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found.append(variable["query"]["query"])
    return found


def exposed_names(client: Client) -> set[str]:
    """Every metric name /metrics exposes (families without samples still have a TYPE line)."""
    text = client.get("/metrics").content.decode()
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.add(name)
            if kind == "counter":
                names.add(f"{name}_total")
    return names


def test_the_dashboard_uses_a_prometheus_datasource_variable_everywhere() -> None:
    dashboard = load()
    (datasource,) = [item for item in dashboard["templating"]["list"] if item["type"] == "datasource"]
    assert datasource["query"] == "prometheus"
    reference = {"type": "prometheus", "uid": "${" + datasource["name"] + "}"}
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == reference, panel["title"]
        assert panel["targets"], panel["title"]
        assert all(target["datasource"] == reference for target in panel["targets"]), panel["title"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"] == reference
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids))
    assert all(panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24 for panel in panels(dashboard))


def test_the_dashboard_shows_every_governance_figure() -> None:
    used = {name for expression in expressions(load()) for name in METRIC.findall(expression)}
    for name in (
        "opsgov_availability_ratio",
        "opsgov_availability_target_ratio",
        "opsgov_slo_error_budget_remaining_ratio",
        "opsgov_slo_burn_rate",
        "opsgov_mtta_seconds",
        "opsgov_mttr_seconds",
        "opsgov_mtbf_seconds",
        "opsgov_open_incidents",
        "opsgov_gate_status",
    ):
        assert name in used


def test_every_metric_the_dashboard_uses_is_exposed_by_metrics(client: Client) -> None:
    used = {name for expression in expressions(load()) for name in METRIC.findall(expression)}
    missing = used - exposed_names(client)
    assert not missing, f"the dashboard queries metrics /metrics does not expose: {sorted(missing)}"


def test_every_expression_of_the_dashboard_is_valid_promql(tmp_path: Path) -> None:
    # promtool checks PromQL when it checks rules: one recording rule per expression, variables filled in.
    rules = []
    for index, expression in enumerate(expressions(load())):
        if expression.startswith("label_values("):
            expression = METRIC.findall(expression)[0]  # a Grafana function over a metric, not PromQL
        for variable, value in VARIABLES.items():
            expression = expression.replace(variable, value)
        assert "$" not in expression, expression
        rules.append({"record": f"dashboard:expression_{index}", "expr": expression})
    path = tmp_path / "dashboard-expressions.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run(
        [binary("promtool", PROMTOOL), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules)} rules found" in checked.stdout
