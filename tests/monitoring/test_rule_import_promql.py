"""PromQL on rule import (monitoring.promql.promql_problem): parsed by promql-parser, cross-checked with promtool."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from monitoring.catalog.rule_files import RuleImportError, parse_rule_file
from monitoring.catalog.services import import_rule_files
from monitoring.models import AlertRule, RuleFile
from monitoring.promql import MAX_EXPR_OPERATORS, promql_problem
from opsgov.roles import SRE_LEAD
from tests.conftest import missing_service
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

#: Expressions Prometheus accepts (promtool 2.42 checks them below), from simple to the awkward corners.
VALID = [
    "up == 0",
    "rate(x[5m]) > 0.1 and on() vector(1)",
    'sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) / sum by (job) (rate(http_requests_total[5m])) > 0.05',
    "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > 2",
    'absent(up{job="checkout"})',
    "max_over_time(rate(x[1m])[30m:1m]) > 3",
    "x > bool 1",
    'up{job=~"a|b"} unless on(job) y',
    "-x < -1",
    "x offset 1h > 0",
    "x @ end()",
    "time() - process_start_time_seconds < 60",
    "count(up) without (instance) > 1 # a comment",
    'slo:sli_error:ratio_rate1h{slo_uuid="6f1c"} > (14.4 * 0.001) and slo:sli_error:ratio_rate5m > (14.4 * 0.001)',
]

#: Expressions Prometheus refuses, with what promql-parser says about each.
INVALID = {
    "sum(rate(x[5m])": "unclosed left parenthesis",
    "rate(x)": "expected type matrix in call to function 'rate', got vector",
    "nosuchfunc(x)": "unknown function with name 'nosuchfunc'",
    "x > 1 and": "invalid promql query",
    'up{job="a"': "unexpected end of input inside braces",
    "sum(x) by": "invalid promql query",
}


def rule_file(expr: str, *, kind: str = "alert", name: str = "CheckoutDown") -> str:
    quoted = expr.replace("'", "''")
    return f"groups:\n  - name: checkout\n    rules:\n      - {kind}: {name}\n        expr: '{quoted}'\n"


def promtool_check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        missing_service("promtool", "install Debian's prometheus package")
    path = tmp_path / "rules.yml"
    path.write_text(text)
    return subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("expr", VALID)
def test_valid_promql_imports(expr: str) -> None:
    assert promql_problem(expr) is None
    result = import_rule_files(files=[("checkout.yml", rule_file(expr))])
    assert result.added == 1
    assert AlertRule.objects.get().expr == expr


def test_promtool_accepts_the_valid_expressions_too(tmp_path: Path) -> None:
    rules = "".join(f"      - alert: Rule{index}\n        expr: '{expr}'\n" for index, expr in enumerate(VALID))
    checked = promtool_check(tmp_path, f"groups:\n  - name: checkout\n    rules:\n{rules}")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(VALID)} rules found" in checked.stdout


@pytest.mark.parametrize(("expr", "problem"), list(INVALID.items()))
def test_invalid_promql_is_an_error_naming_file_line_group_and_rule(expr: str, problem: str) -> None:
    with pytest.raises(RuleImportError) as caught:
        import_rule_files(files=[("checkout.yml", rule_file(expr))])
    [error] = caught.value.errors
    assert (error.file, error.line, error.group, error.rule, error.path) == (
        "checkout.yml",
        5,
        "checkout",
        "CheckoutDown",
        "groups[0].rules[0].expr",
    )
    assert str(error) == (
        "checkout.yml:5 (group 'checkout', rule 'CheckoutDown'): groups[0].rules[0].expr: "
        f"'expr' is not valid PromQL: {problem}"
    )
    assert not RuleFile.objects.exists()


@pytest.mark.parametrize("expr", list(INVALID))
def test_promtool_refuses_the_invalid_expressions_too(tmp_path: Path, expr: str) -> None:
    checked = promtool_check(tmp_path, rule_file(expr))
    assert checked.returncode != 0
    assert 'group "checkout", rule 1, "CheckoutDown": could not parse expression' in checked.stdout + checked.stderr


def test_recording_rules_are_checked_too_and_every_problem_is_listed() -> None:
    text = (
        "groups:\n  - name: checkout\n    rules:\n"
        "      - record: job:x:rate5m\n        expr: rate(x)\n"
        "      - alert: Fine\n        expr: job:x:rate5m > 1\n"
        "  - name: edge\n    rules:\n"
        "      - alert: Broken\n        expr: sum(\n"
    )
    with pytest.raises(RuleImportError) as caught:
        parse_rule_file("mixed.yml", text)
    assert [str(error) for error in caught.value.errors] == [
        "mixed.yml:5 (group 'checkout', rule 'job:x:rate5m'): groups[0].rules[0].expr: "
        "'expr' is not valid PromQL: expected type matrix in call to function 'rate', got vector",
        "mixed.yml:11 (group 'edge', rule 'Broken'): groups[1].rules[0].expr: "
        "'expr' is not valid PromQL: unclosed left parenthesis",
    ]


def test_an_expression_too_complex_to_parse_safely_is_refused_not_crashing() -> None:
    # 10,000 nested parentheses crash promql-parser (unbounded recursion): refused before parsing.
    deep = "(" * 10_000 + "x" + ")" * 10_000
    assert promql_problem(deep) == (
        f"too complex to check: 10000 operators and parentheses (at most {MAX_EXPR_OPERATORS}); "
        "split it with recording rules"
    )
    long_chain = " + ".join(["x"] * (MAX_EXPR_OPERATORS + 2))
    assert promql_problem(long_chain) is not None
    # At the limit it is parsed; operators inside strings and comments do not count.
    assert promql_problem(" + ".join(["x"] * (MAX_EXPR_OPERATORS + 1))) is None
    assert promql_problem('x{path="' + "(-+" * 1000 + '"} > 1 # ' + "(" * 1000) is None


# --- The API, the page and the command -----------------------------------------------------------


@pytest.fixture
def sre_api(personas: dict[str, User], client_for: Callable[[User], APIClient]) -> APIClient:
    return client_for(personas[SRE_LEAD])


def test_the_api_answers_400_naming_the_rule_of_an_invalid_expression(sre_api: APIClient) -> None:
    response = sre_api.post(
        "/api/v1/alert-rules/import/?name=checkout.yml", rule_file("rate(x)"), content_type="application/yaml"
    )
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == [
        {
            "field": "checkout.yml:groups[0].rules[0].expr",
            "message": "checkout.yml:5 (group 'checkout', rule 'CheckoutDown'): groups[0].rules[0].expr: "
            "'expr' is not valid PromQL: expected type matrix in call to function 'rate', got vector",
            "file": "checkout.yml",
            "line": 5,
            "group": "checkout",
            "rule": "CheckoutDown",
        }
    ]


def test_the_api_lists_unknown_service_labels(sre_api: APIClient) -> None:
    ServiceFactory.create(slug="checkout")
    text = (
        "groups:\n  - name: g\n    rules:\n"
        "      - alert: Known\n        expr: up == 0\n        labels: {service: checkout}\n"
        "      - alert: Unknown\n        expr: up == 0\n        labels: {service: chekout}\n"
        "      - alert: AlsoUnknown\n        expr: up == 1\n        labels: {service: chekout}\n"
        "      - alert: Unlabelled\n        expr: up == 0\n"
    )
    response = sre_api.post("/api/v1/alert-rules/import/?name=g.yml", text, content_type="application/yaml")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["unknown_services"] == ["chekout"]
    assert body["files"][0]["unknown_services"] == [{"service": "chekout", "rules": ["g/Unknown", "g/AlsoUnknown"]}]
    assert body["files"][0]["without_service_label"] == ["g/Unlabelled"]


def test_the_page_lists_the_promql_error(client: Client, make_user: Callable[..., User]) -> None:
    client.force_login(make_user("sre", SRE_LEAD))
    upload = SimpleUploadedFile("edge.yml", rule_file("sum(rate(x[5m])").encode(), content_type="application/yaml")
    response = client.post(reverse("monitoring:alert-rule-import"), {"rule_files": [upload]})
    assert response.status_code == 400
    assert (
        "edge.yml:5 (group &#x27;checkout&#x27;, rule &#x27;CheckoutDown&#x27;): groups[0].rules[0].expr: "
        "&#x27;expr&#x27; is not valid PromQL: unclosed left parenthesis"
    ) in response.content.decode()
    assert not RuleFile.objects.exists()


def test_the_command_reports_the_promql_error(tmp_path: Path) -> None:
    path = tmp_path / "edge.yml"
    path.write_text(rule_file("nosuchfunc(x)"))
    with pytest.raises(CommandError) as caught:
        call_command("import_alert_rules", str(path), stdout=StringIO(), stderr=StringIO())
    assert str(caught.value) == (
        "Nothing imported: 1 problem in edge.yml.\n"
        "  edge.yml:5 (group 'checkout', rule 'CheckoutDown'): groups[0].rules[0].expr: "
        "'expr' is not valid PromQL: unknown function with name 'nosuchfunc'"
    )
    assert not RuleFile.objects.exists()
