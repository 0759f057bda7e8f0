"""manage.py export_prometheus_rules: promtool accepts the rules, and they fire when they should."""

from __future__ import annotations

import json
import subprocess
import uuid
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command

from monitoring.models import SLO, SLIKind, SLISource
from monitoring.slos.prometheus_rules import slo_page_url
from opsgov.models import Service
from tests.factories import ServiceFactory
from tests.prometheus_server import PROMTOOL, binary

pytestmark = pytest.mark.django_db

GOLDEN = Path(__file__).parent / "golden" / "prometheus_rules_one_slo.yml"
CHECKOUT_UUID = uuid.UUID("5f1c0c7e-8a63-4c9e-9d51-0a7b3c2d4e6f")


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool", PROMTOOL), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def checkout_slo(service: Service | None = None) -> SLO:
    return SLO.objects.create(
        uuid=CHECKOUT_UUID,
        service=service or ServiceFactory.create(slug="checkout", name="Checkout"),
        name="API availability",
        objective_percent=Decimal("99.9"),
        source=SLISource.PROMETHEUS,
        good_query='http_requests_total{job="checkout",code!~"5.."}',
        total_query='http_requests_total{job="checkout"}',
    )


def export(tmp_path: Path, name: str = "rules.yml") -> Path:
    target = tmp_path / name
    call_command("export_prometheus_rules", "--output", str(target), stderr=StringIO())
    return target


def test_promtool_accepts_the_rules_and_the_thresholds_are_in_the_expressions(tmp_path: Path) -> None:
    checkout_slo()
    SLO.objects.create(
        service=ServiceFactory.create(slug="search"),
        name="Search latency < 300 ms",
        sli_kind=SLIKind.LATENCY,
        latency_threshold_ms=300,
        objective_percent=Decimal("99.95"),
        source=SLISource.PROMETHEUS,
        good_query='http_request_duration_seconds_bucket{job="search",le="0.3"}',
        total_query='http_request_duration_seconds_count{job="search"}',
    )
    SLO.objects.create(service=ServiceFactory.create(), name="Pushed", objective_percent=Decimal("99"))
    target = export(tmp_path)
    checked = promtool("check", "rules", str(target), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # 2 SLOs x (6 recording rules + 3 alerts); the pushed SLO has none.
    assert "SUCCESS: 18 rules found" in checked.stdout
    groups = yaml.safe_load(target.read_text())["groups"]
    alerts = {
        (group["name"].split("-")[2], rule["labels"]["burn_rate_alert"]): rule
        for group in groups
        for rule in group["rules"]
        if "alert" in rule
    }
    # Error budget 1 - 99.9 % = 0.001; 1 - 99.95 % = 0.0005. Burn rates 14.4, 6 and 1 (the SRE workbook's).
    assert alerts[("checkout", "page-fast")]["expr"] == (
        f'slo:sli_error:ratio_rate1h{{slo_uuid="{CHECKOUT_UUID}"}} > (14.4 * 0.001)'
        f' and slo:sli_error:ratio_rate5m{{slo_uuid="{CHECKOUT_UUID}"}} > (14.4 * 0.001)'
    )
    assert "ratio_rate6h" in alerts[("checkout", "page-slow")]["expr"]
    assert "ratio_rate30m" in alerts[("checkout", "page-slow")]["expr"]
    assert alerts[("checkout", "page-slow")]["expr"].count("> (6 * 0.001)") == 2
    assert "ratio_rate3d" in alerts[("checkout", "ticket")]["expr"]
    assert alerts[("checkout", "ticket")]["expr"].count("> (1 * 0.001)") == 2
    assert alerts[("search", "page-fast")]["expr"].count("> (14.4 * 0.0005)") == 2
    assert alerts[("search", "page-fast")]["labels"]["severity"] == "page"
    assert alerts[("search", "ticket")]["labels"]["severity"] == "ticket"
    assert alerts[("search", "ticket")]["labels"]["opsgov_severity"] == "SEV-3"
    assert alerts[("search", "page-fast")]["labels"]["opsgov_severity"] == "SEV-2"


def test_the_rules_of_one_slo_match_the_golden_file(tmp_path: Path, settings: Any) -> None:
    settings.OPSGOV_BASE_URL = "https://opsgov.example.com/"
    slo = checkout_slo()
    text = export(tmp_path).read_text()
    # The SLO page's path belongs to the SLO pages' URLs, not to this file: the golden file names it.
    assert text == GOLDEN.read_text().replace("{slo_page_url}", slo_page_url(slo))
    assert slo_page_url(slo).startswith("https://opsgov.example.com/")


def unit_test_file(tmp_path: Path, rules: Path, *, errors_per_minute: int, expect: list[str]) -> Path:
    """A promtool rule test: 1,000 requests a minute for 3 hours, `errors_per_minute` of them failing."""
    labels = {"service": "checkout", "slo": "API availability", "slo_uuid": str(CHECKOUT_UUID)}
    severities = {"page-fast": ("page", "SEV-2"), "page-slow": ("page", "SEV-2"), "ticket": ("ticket", "SEV-3")}
    windows = {
        "page-fast": ("1h", "14.4", "50 hours"),
        "page-slow": ("6h", "6", "5 days"),
        "ticket": ("3d", "1", "30 days"),
    }
    ratio = errors_per_minute / 1000
    value = f"{ratio * 100:.4g}%"  # Prometheus' humanizePercentage
    short = {"page-fast": "5m", "page-slow": "30m", "ticket": "6h"}
    expected = [
        {
            "exp_labels": {
                **labels,
                "severity": severities[key][0],
                "opsgov_severity": severities[key][1],
                "burn_rate_alert": key,
            },
            "exp_annotations": {
                "summary": f"API availability of Checkout burns its error budget {windows[key][1]}x too fast "
                f"({windows[key][0]} and {short[key]})",
                "description": f"Error ratio over {windows[key][0]}: {value}, over {windows[key][1]} x the 0.1 % "
                f"error budget. At this rate the budget of a 30-day window lasts {windows[key][2]}.",
                "runbook_url": "{runbook_url}",
            },
        }
        for key in expect
    ]
    test = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'http_requests_total{job="checkout",code="200"}',
                        "values": f"0+{1000 - errors_per_minute}x180",
                    },
                    {
                        "series": 'http_requests_total{job="checkout",code="500"}',
                        "values": f"0+{errors_per_minute}x180",
                    },
                ],
                "alert_rule_test": [{"eval_time": "3h", "alertname": "SLOErrorBudgetBurn", "exp_alerts": expected}],
            }
        ],
    }
    path = tmp_path / f"test-{errors_per_minute}.yml"
    path.write_text(json.dumps(test, indent=2))
    return path


@pytest.mark.parametrize(
    ("errors_per_minute", "firing"),
    [
        # 20 % errors: 200x the 0.1 % budget, over every threshold (14.4x, 6x, 1x).
        (200, ["page-fast", "page-slow", "ticket"]),
        # 0.2 % errors: 2x the budget, over the ticket's 1x only.
        (2, ["ticket"]),
        # No errors: nothing fires.
        (0, []),
    ],
)
def test_the_alerts_fire_at_the_policy_s_burn_rates(
    tmp_path: Path, settings: Any, errors_per_minute: int, firing: list[str]
) -> None:
    settings.OPSGOV_BASE_URL = "https://opsgov.example.com"
    slo = checkout_slo()
    rules = export(tmp_path)
    test = unit_test_file(tmp_path, rules, errors_per_minute=errors_per_minute, expect=firing)
    test.write_text(test.read_text().replace("{runbook_url}", slo_page_url(slo)))
    result = promtool("test", "rules", str(test), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_policy_window_beyond_the_standard_ones_gets_its_recording_rule(tmp_path: Path, settings: Any) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        "[monitoring.burn_rate_alerts.page-fast]\n"
        'burn_rate = 10\nlong_window = "2 hours"\nshort_window = "10 minutes"\nkind = "page"\n'
    )
    settings.OPSGOV_POLICY = str(policy)
    checkout_slo()
    target = export(tmp_path)
    (group,) = yaml.safe_load(target.read_text())["groups"]
    assert [rule["record"] for rule in group["rules"] if "record" in rule] == [
        f"slo:sli_error:ratio_rate{window}" for window in ("5m", "10m", "30m", "1h", "2h", "6h", "1d", "3d")
    ]
    (alert,) = [rule for rule in group["rules"] if "alert" in rule]
    assert alert["expr"].count("> (10 * 0.001)") == 2
    assert "ratio_rate2h{" in alert["expr"] and "ratio_rate10m{" in alert["expr"]
    assert promtool("check", "rules", str(target), cwd=tmp_path).returncode == 0


def test_an_slo_whose_query_is_not_a_selector_stops_the_export_naming_it(tmp_path: Path) -> None:
    slo = checkout_slo()
    SLO.objects.filter(pk=slo.pk).update(total_query="sum(http_requests_total)")
    target = tmp_path / "rules.yml"
    target.write_text("# the previous rules\n")
    with pytest.raises(CommandError) as caught:
        call_command("export_prometheus_rules", "--output", str(target))
    assert f"SLO {CHECKOUT_UUID} (checkout · API availability): total_query: 'sum(http_requests_total)'" in str(
        caught.value
    )
    assert target.read_text() == "# the previous rules\n", "nothing half-written"
    assert [path.name for path in tmp_path.iterdir()] == ["rules.yml"]


def test_without_output_the_rules_go_to_standard_output_and_no_slo_is_an_empty_file(tmp_path: Path) -> None:
    out = StringIO()
    call_command("export_prometheus_rules", stdout=out)
    assert yaml.safe_load(out.getvalue()) == {"groups": []}
    empty = tmp_path / "empty.yml"
    empty.write_text(out.getvalue())
    assert promtool("check", "rules", str(empty), cwd=tmp_path).returncode == 0
