"""Import of Prometheus rule files (monitoring.catalog and `manage.py import_alert_rules`)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from monitoring.catalog.rule_files import (
    RuleImportError,
    format_duration,
    map_severity,
    opsgov_runbook_slug,
    parse_duration,
    parse_rule_file,
)
from monitoring.catalog.selectors import rule_coverage, rules_without_runbook
from monitoring.catalog.services import alert_rule_link_runbook, import_rule_files
from monitoring.models import AlertRule, RuleFile, RuleGroup
from tests.conftest import missing_service
from tests.factories import ServiceFactory

from .catalog_helpers import FIXTURE_RULES, fixture_text, make_runbook

pytestmark = pytest.mark.django_db


def errors_of(name: str, text: str) -> list[str]:
    with pytest.raises(RuleImportError) as caught:
        parse_rule_file(name, text)
    return [str(error) for error in caught.value.errors]


def rules_by_name() -> dict[str, AlertRule]:
    return {rule.name: rule for rule in AlertRule.objects.select_related("group__rule_file", "service", "runbook")}


# --- The shared fixture ------------------------------------------------------------------------


def test_the_shared_fixture_imports_three_alerts_and_counts_the_recording_rule() -> None:
    checkout = ServiceFactory.create(slug="checkout")
    payments = ServiceFactory.create(slug="payments")
    result = import_rule_files(files=[("prometheus-alert-rules.yml", fixture_text())])

    assert result.as_json()["files"][0] == {
        "file": "prometheus-alert-rules.yml",
        "created": True,
        "added": ["checkout/HighErrorRate", "checkout/CheckoutLatencyHigh", "payments/PaymentsDown"],
        "updated": [],
        "unchanged": 0,
        "removed": [],
        "groups": 2,
        "recording_rules": 1,
        "unknown_services": [],
        "without_service_label": [],
    }
    rule_file = RuleFile.objects.get()
    assert rule_file.recording_rule_count == 1
    assert list(RuleGroup.objects.values_list("name", "recording_rule_count")) == [("checkout", 0), ("payments", 1)]
    rules = rules_by_name()
    high = rules["HighErrorRate"]
    assert (high.group.name, high.expr, high.for_duration) == (
        "checkout",
        "job:checkout_errors:ratio5m > 0.05",
        timedelta(minutes=5),
    )
    assert (high.severity, high.severity_label, high.service) == ("SEV-1", "critical", checkout)
    assert high.runbook is None and high.runbook_url == "https://runbooks.example.internal/checkout/high-error-rate"
    assert high.annotations["summary"] == "Checkout 5xx ratio above 5%"
    latency = rules["CheckoutLatencyHigh"]
    assert (latency.severity, latency.for_duration, latency.has_runbook) == ("SEV-3", timedelta(minutes=10), False)
    assert rules["PaymentsDown"].service == payments
    # The one alert without runbook_url is flagged.
    assert [rule.name for rule in rules_without_runbook()] == ["CheckoutLatencyHigh"]
    coverage = rule_coverage()
    assert (coverage.total, coverage.with_runbook, coverage.without_service) == (3, 2, 0)


def test_promtool_accepts_the_fixture_that_we_import() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        missing_service("promtool", "install Debian's prometheus package")
    checked = subprocess.run([promtool, "check", "rules", str(FIXTURE_RULES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "4 rules found" in checked.stdout  # 3 alerts + 1 recording rule, as we count them
    parsed = parse_rule_file("fixture.yml", fixture_text())
    assert (parsed.alert_count, parsed.recording_rule_count) == (3, 1)


def test_unknown_service_labels_and_missing_ones_leave_the_rule_without_service() -> None:
    text = """\
groups:
  - name: g
    rules:
      - alert: NoSuchService
        expr: up == 0
        labels: {service: nowhere}
      - alert: NoServiceLabel
        expr: up == 0
"""
    import_rule_files(files=[("s.yml", text)])
    rules = rules_by_name()
    assert (rules["NoSuchService"].service, rules["NoSuchService"].service_label) == (None, "nowhere")
    assert (rules["NoServiceLabel"].service, rules["NoServiceLabel"].service_label) == (None, "")
    assert rule_coverage().without_service == 2


@pytest.mark.parametrize(
    ("labels", "severity"),
    [
        ({"severity": "critical"}, "SEV-1"),
        ({"severity": "Warning"}, "SEV-3"),
        ({"severity": "page"}, ""),  # not in the table
        ({}, ""),
        ({"severity": "info", "opsgov_severity": "SEV-2"}, "SEV-2"),  # the override wins
        ({"severity": "info", "opsgov_severity": "SEV-9"}, "SEV-4"),  # an unknown override is ignored
    ],
)
def test_severity_comes_from_the_labels(labels: dict[str, str], severity: str) -> None:
    assert map_severity(labels) == severity


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("30s", timedelta(seconds=30)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1y", timedelta(days=365)),
        ("1m500ms", timedelta(seconds=60.5)),
    ],
)
def test_prometheus_durations_are_read_and_written_back(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["", "5", "5x", "m5", "1m1h", "-5m", "5 m"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        parse_duration(text)


# --- Errors name file, line, group and rule ----------------------------------------------------


def test_a_yaml_syntax_error_names_the_file_and_line() -> None:
    text = "groups:\n  - name: checkout\n    rules:\n      - alert: A\n        expr: up == 0\n       labels: {}\n"
    [error] = errors_of("broken.yml", text)
    assert error.startswith("broken.yml:6: not valid YAML:")


def test_a_repeated_yaml_key_is_an_error_with_its_line() -> None:
    text = "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n        expr: down\n"
    assert errors_of("dup.yml", text) == [
        "dup.yml:6: not valid YAML: key 'expr' is repeated (first on line 5) at column 9"
    ]


def test_a_missing_expr_is_named_with_file_line_group_and_rule() -> None:
    text = "groups:\n  - name: checkout\n    rules:\n      - alert: HighErrorRate\n        for: 5m\n"
    assert errors_of("checkout.yml", text) == [
        "checkout.yml:4 (group 'checkout', rule 'HighErrorRate'): groups[0].rules[0].expr: "
        "'expr' is missing: every rule needs a PromQL expression"
    ]


def test_a_bad_for_duration_is_named_with_its_own_line() -> None:
    text = (
        "groups:\n  - name: checkout\n    rules:\n      - alert: Slow\n        expr: up == 0\n        for: 5 minutes\n"
    )
    assert errors_of("checkout.yml", text) == [
        "checkout.yml:6 (group 'checkout', rule 'Slow'): groups[0].rules[0].for: "
        "'5 minutes' is not a Prometheus duration (e.g. 30s, 5m, 1h30m, 1d)"
    ]


def test_a_duplicate_alert_name_in_a_group_is_refused_but_allowed_across_groups() -> None:
    text = """\
groups:
  - name: a
    rules:
      - alert: Down
        expr: up == 0
      - alert: Down
        expr: up{job="x"} == 0
  - name: b
    rules:
      - alert: Down
        expr: up == 0
"""
    assert errors_of("d.yml", text) == [
        "d.yml:6 (group 'a', rule 'Down'): groups[0].rules[1].alert: alert 'Down' is repeated in the group "
        "(first on line 4); an alert name must be unique in its group: it identifies the rule across imports"
    ]


def test_every_problem_of_a_file_is_reported_in_line_order() -> None:
    text = """\
groups:
  - name: a
    rules:
      - alert: Both
        record: both
        expr: up
      - labels: {severity: critical}
        expr: up
      - record: job:up:sum
        expr: sum(up)
        for: 5m
        annotations: {summary: x}
      - alert: BadLabel
        expr: up
        labels: {"bad-name": x}
  - name: a
    interval: soon
    extra: 1
"""
    assert errors_of("many.yml", text) == [
        "many.yml:4 (group 'a', rule 'Both'): groups[0].rules[0]: only one of 'alert' and 'record' may be set",
        "many.yml:7 (group 'a', rule '#2'): groups[0].rules[1]: one of 'alert' or 'record' must be set",
        "many.yml:11 (group 'a', rule 'job:up:sum'): groups[0].rules[2].for: a recording rule has no 'for'",
        "many.yml:12 (group 'a', rule 'job:up:sum'): groups[0].rules[2].annotations: "
        "a recording rule has no 'annotations'",
        "many.yml:15 (group 'a', rule 'BadLabel'): groups[0].rules[3].labels.bad-name: invalid label name 'bad-name'",
        "many.yml:16 (group 'a'): groups[1].name: group name 'a' is repeated in the file (first on line 2)",
        "many.yml:17 (group 'a'): groups[1].interval: 'soon' is not a Prometheus duration (e.g. 30s, 5m, 1h30m, 1d)",
        "many.yml:18 (group 'a'): groups[1].extra: unknown field 'extra' "
        "(allowed: interval, labels, limit, name, query_offset, rules)",
    ]


def test_problems_on_one_line_are_listed_in_the_order_of_the_checks() -> None:
    text = (
        "groups: [{name: a, rules: [{alert: Down, expr: up}]}, "
        "{name: a, extra: 1, rules: [{alert: Down, expr: up}, {alert: Down, record: x, for: soon}]}]\n"
    )
    assert errors_of("flow.yml", text) == [
        "flow.yml:1 (group 'a'): groups[1].extra: unknown field 'extra' "
        "(allowed: interval, labels, limit, name, query_offset, rules)",
        "flow.yml:1 (group 'a'): groups[1].name: group name 'a' is repeated in the file (first on line 1)",
        "flow.yml:1 (group 'a', rule 'Down'): groups[1].rules[1].alert: alert 'Down' is repeated in the group "
        "(first on line 1); an alert name must be unique in its group: it identifies the rule across imports",
        "flow.yml:1 (group 'a', rule 'Down'): groups[1].rules[1]: only one of 'alert' and 'record' may be set",
        "flow.yml:1 (group 'a', rule 'Down'): groups[1].rules[1].expr: "
        "'expr' is missing: every rule needs a PromQL expression",
        "flow.yml:1 (group 'a', rule 'Down'): groups[1].rules[1].for: "
        "'soon' is not a Prometheus duration (e.g. 30s, 5m, 1h30m, 1d)",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty; a rule file has a 'groups' list"),
        ("- a\n- b\n", "a rule file is a mapping with a 'groups' list, not a list"),
        ("groups: 3\n", "'groups' must be a list, not a str"),
        ("rules: []\n", "unknown field 'rules' (allowed: groups)"),
    ],
)
def test_files_that_are_not_rule_files_are_refused(text: str, message: str) -> None:
    [error] = errors_of("x.yml", text)[:1]
    assert message in error


def test_yaml_scalars_are_read_as_strings_like_prometheus_does() -> None:
    text = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: 1\n        labels: {severity: on}\n"
    [group] = parse_rule_file("g.yml", text).groups
    assert (group.rules[0].expr, group.rules[0].labels) == ("1", {"severity": "on"})
    assert errors_of("n.yml", text.replace("expr: 1", "expr: 1\n        for: 300")) == [
        "n.yml:6 (group 'g', rule 'A'): groups[0].rules[0].for: "
        "'300' is not a Prometheus duration (e.g. 30s, 5m, 1h30m, 1d)"
    ]


def test_unsafe_yaml_tags_are_refused() -> None:
    [error] = errors_of("evil.yml", "groups: !!python/object/apply:os.system ['true']\n")
    assert error.startswith("evil.yml:1: not valid YAML:")


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "//evil.example/runbooks/db",  # scheme-relative: the browser keeps the page's scheme, not our host
        "/\\evil.example/runbooks/db",  # a backslash: browsers read it as a slash
        "https:evil.example/x",  # no host
        "ftp://files.example.com/runbook.txt",
        "runbooks/db-failover",  # relative
        "/monitoring/alert-rules/",  # an opsgov path, but not a runbook page
        "https://wiki.example.com/run books",  # whitespace, which browsers drop or rewrite
    ],
)
def test_a_runbook_url_that_is_not_an_absolute_http_url_is_refused(url: str) -> None:
    text = (
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n"
        f"        annotations:\n          runbook_url: '{url}'\n"
    )
    assert errors_of("u.yml", text) == [
        "u.yml:7 (group 'g', rule 'A'): groups[0].rules[0].annotations.runbook_url: "
        f"{url!r} is not an absolute http(s) URL (https://host/...) nor the path of an opsgov runbook page "
        "(/monitoring/runbooks/<slug>/)"
    ]


@pytest.mark.parametrize("url", ["https://wiki.example.com/runbooks/db", "http://wiki/runbooks/db?x=1#step-2"])
def test_absolute_http_runbook_urls_are_kept_as_external_links(url: str) -> None:
    text = (
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n"
        f"        annotations:\n          runbook_url: '{url}'\n"
    )
    import_rule_files(files=[("u.yml", text)])
    assert AlertRule.objects.get().runbook_url == url


def test_the_model_refuses_a_runbook_url_that_is_not_an_absolute_http_url() -> None:
    import_rule_files(files=[("rules.yml", fixture_text())])
    rule = AlertRule.objects.filter(runbook__isnull=True).first() or AlertRule.objects.first()
    assert rule is not None
    rule.runbook_url = "//evil.example/runbook"
    with pytest.raises(ValidationError) as caught:
        rule.full_clean(validate_unique=False, validate_constraints=False)
    assert list(caught.value.message_dict) == ["runbook_url"]
    assert rule.external_runbook_href == ""  # and a row stored before would be shown as text
    rule.runbook_url = "https://wiki.example.com/runbook"
    rule.full_clean(validate_unique=False, validate_constraints=False)
    assert rule.external_runbook_href == "https://wiki.example.com/runbook"


# --- All or nothing ----------------------------------------------------------------------------


def test_one_invalid_file_rejects_the_whole_call_and_nothing_is_written() -> None:
    bad = "groups:\n  - name: broken\n    rules:\n      - alert: NoExpr\n"
    with pytest.raises(RuleImportError) as caught:
        import_rule_files(files=[("good.yml", fixture_text()), ("bad.yml", bad)])
    assert [str(error) for error in caught.value.errors] == [
        "bad.yml:4 (group 'broken', rule 'NoExpr'): groups[0].rules[0].expr: "
        "'expr' is missing: every rule needs a PromQL expression"
    ]
    assert caught.value.message == "Nothing imported: 1 problem in bad.yml."
    assert not RuleFile.objects.exists() and not AlertRule.objects.exists()


def test_an_invalid_reimport_leaves_the_previous_rules_untouched() -> None:
    import_rule_files(files=[("rules.yml", fixture_text())])
    before = list(AlertRule.objects.order_by("pk").values_list("pk", "name", "expr", "updated_at"))
    with pytest.raises(RuleImportError):
        import_rule_files(files=[("rules.yml", fixture_text().replace("for: 5m", "for: five"))])
    assert list(AlertRule.objects.order_by("pk").values_list("pk", "name", "expr", "updated_at")) == before


def test_a_runbook_url_to_a_missing_opsgov_runbook_rejects_the_import(settings: object) -> None:
    text = (
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n"
        "        annotations:\n          runbook_url: http://opsgov.example.com/monitoring/runbooks/gone/\n"
    )
    settings.OPSGOV_BASE_URL = "http://opsgov.example.com"  # type: ignore[attr-defined]
    with pytest.raises(RuleImportError) as caught:
        import_rule_files(files=[("g.yml", text)])
    assert [str(error) for error in caught.value.errors] == [
        "g.yml:7 (group 'g', rule 'A'): groups[0].rules[0].annotations.runbook_url: runbook_url points at the "
        "opsgov runbook 'gone', which does not exist; create it first or fix the URL"
    ]
    assert not RuleFile.objects.exists()


def test_two_files_with_the_same_name_in_one_call_are_refused() -> None:
    with pytest.raises(RuleImportError) as caught:
        import_rule_files(files=[("a/rules.yml", fixture_text()), ("b/rules.yml", fixture_text())])
    assert {str(error) for error in caught.value.errors} == {"rules.yml: two files of this call have this name"}


# --- Re-import ---------------------------------------------------------------------------------


def test_reimporting_the_same_file_changes_nothing() -> None:
    import_rule_files(files=[("rules.yml", fixture_text())])
    before = list(AlertRule.objects.order_by("pk").values_list("pk", "updated_at"))
    result = import_rule_files(files=[("rules.yml", fixture_text())])
    assert (result.added, result.updated, result.removed, result.files[0].unchanged) == (0, 0, 0, 3)
    assert not result.files[0].created
    assert list(AlertRule.objects.order_by("pk").values_list("pk", "updated_at")) == before


def test_reimporting_updates_in_place_adds_and_removes() -> None:
    import_rule_files(files=[("rules.yml", fixture_text())])
    ids = {rule.name: rule.pk for rule in AlertRule.objects.all()}
    changed = (
        fixture_text()
        .replace("job:checkout_errors:ratio5m > 0.05", "job:checkout_errors:ratio5m > 0.02")  # HighErrorRate
        .replace("      - alert: PaymentsDown", "      - alert: PaymentsGone")  # renamed: removed + added
    )
    result = import_rule_files(files=[("rules.yml", changed)])
    assert result.as_json()["files"][0] | {"created": None} == {
        "file": "rules.yml",
        "created": None,
        "added": ["payments/PaymentsGone"],
        "updated": ["checkout/HighErrorRate"],
        "unchanged": 1,
        "removed": ["payments/PaymentsDown"],
        "groups": 2,
        "recording_rules": 1,
        "unknown_services": [
            {"service": "checkout", "rules": ["checkout/HighErrorRate", "checkout/CheckoutLatencyHigh"]},
            {"service": "payments", "rules": ["payments/PaymentsGone"]},
        ],
        "without_service_label": [],
    }
    high = AlertRule.objects.get(name="HighErrorRate")
    assert high.pk == ids["HighErrorRate"], "updated in place, same row"
    assert high.expr == "job:checkout_errors:ratio5m > 0.02"
    assert not AlertRule.objects.filter(name="PaymentsDown").exists()


def test_a_group_dropped_from_the_file_goes_with_its_rules() -> None:
    import_rule_files(files=[("rules.yml", fixture_text())])
    only_checkout = fixture_text().split("  - name: payments")[0]
    result = import_rule_files(files=[("rules.yml", only_checkout)])
    assert result.files[0].removed == ["payments/PaymentsDown"]
    assert list(RuleGroup.objects.values_list("name", flat=True)) == ["checkout"]
    assert RuleFile.objects.get().recording_rule_count == 0


def test_other_files_stay_unless_replace_is_asked() -> None:
    other = "groups:\n  - name: other\n    rules:\n      - alert: Other\n        expr: up == 0\n"
    import_rule_files(files=[("rules.yml", fixture_text()), ("other.yml", other)])
    import_rule_files(files=[("rules.yml", fixture_text())])
    assert AlertRule.objects.filter(name="Other").exists()
    result = import_rule_files(files=[("rules.yml", fixture_text())], replace=True)
    assert [(removed.name, removed.removed) for removed in result.removed_files] == [("other.yml", ["other/Other"])]
    assert result.removed == 1
    assert list(RuleFile.objects.values_list("name", flat=True)) == ["rules.yml"]


# --- Runbook links -----------------------------------------------------------------------------


def page_url(base: str, slug: str) -> str:
    return f"{base}/monitoring/runbooks/{slug}/"


def with_runbook_url(url: str) -> str:
    return fixture_text().replace("https://runbooks.example.internal/payments/down", url)


def test_a_runbook_url_to_an_opsgov_runbook_page_links_the_runbook(settings: object) -> None:
    settings.OPSGOV_BASE_URL = "https://ops.example.com/opsgov"  # type: ignore[attr-defined]
    runbook = make_runbook("payments-down")
    import_rule_files(
        files=[("rules.yml", with_runbook_url(page_url("https://ops.example.com/opsgov", "payments-down")))]
    )
    rule = AlertRule.objects.get(name="PaymentsDown")
    assert (rule.runbook, rule.runbook_url, rule.runbook_linked_by_hand) == (runbook, "", False)
    assert rule.runbook_href == "/monitoring/runbooks/payments-down/"


@pytest.mark.parametrize(
    ("url", "slug"),
    [
        ("https://ops.example.com/opsgov/monitoring/runbooks/db-failover/", "db-failover"),
        ("HTTPS://OPS.EXAMPLE.COM/opsgov/monitoring/runbooks/db-failover/", "db-failover"),
        ("/monitoring/runbooks/db-failover/", "db-failover"),
        ("https://wiki.example.com/opsgov/monitoring/runbooks/db-failover/", None),  # another host
        ("https://ops.example.com/monitoring/runbooks/db-failover/", None),  # outside the base path
        ("https://ops.example.com/opsgov/monitoring/alert-rules/", None),  # another page
        ("https://ops.example.com/opsgov/monitoring/runbooks/", None),
    ],
)
def test_which_urls_are_opsgov_runbook_pages(settings: object, url: str, slug: str | None) -> None:
    settings.OPSGOV_BASE_URL = "https://ops.example.com/opsgov"  # type: ignore[attr-defined]
    assert opsgov_runbook_slug(url) == slug


def test_a_runbook_linked_by_hand_survives_reimports_until_the_file_names_an_opsgov_runbook(settings: object) -> None:
    settings.OPSGOV_BASE_URL = "http://opsgov.test"  # type: ignore[attr-defined]
    import_rule_files(files=[("rules.yml", fixture_text())])
    by_hand = make_runbook("checkout-latency")
    latency = AlertRule.objects.get(name="CheckoutLatencyHigh")
    alert_rule_link_runbook(rule=latency, runbook=by_hand)

    result = import_rule_files(files=[("rules.yml", fixture_text())])
    assert result.updated == 0
    latency.refresh_from_db()
    assert (latency.runbook, latency.runbook_linked_by_hand, latency.has_runbook) == (by_hand, True, True)

    # The file now names another opsgov runbook: the file wins.
    named = make_runbook("checkout-slow")
    text = fixture_text().replace(
        "summary: Checkout p99 latency above 1.5 s",
        "summary: Checkout p99 latency above 1.5 s\n"
        f"          runbook_url: {page_url('http://opsgov.test', 'checkout-slow')}",
    )
    result = import_rule_files(files=[("rules.yml", text)])
    assert result.files[0].updated == ["checkout/CheckoutLatencyHigh"]
    latency.refresh_from_db()
    assert (latency.runbook, latency.runbook_linked_by_hand) == (named, False)

    # ...and once the annotation is gone again, so is that (file-made) link.
    import_rule_files(files=[("rules.yml", fixture_text())])
    latency.refresh_from_db()
    assert (latency.runbook, latency.has_runbook) == (None, False)


def test_unlinking_by_hand_clears_the_flag() -> None:
    import_rule_files(files=[("rules.yml", fixture_text())])
    rule = AlertRule.objects.get(name="CheckoutLatencyHigh")
    alert_rule_link_runbook(rule=rule, runbook=make_runbook("x"))
    rule = alert_rule_link_runbook(rule=rule, runbook=None)
    assert (rule.runbook, rule.runbook_linked_by_hand) == (None, False)


# --- The management command --------------------------------------------------------------------


def test_the_command_imports_files_and_reports_added_updated_removed(tmp_path: Path) -> None:
    ServiceFactory.create(slug="checkout")
    path = tmp_path / "prod.rules.yml"
    path.write_text(fixture_text())
    out = StringIO()
    call_command("import_alert_rules", str(path), stdout=out)
    assert out.getvalue().splitlines() == [
        "prod.rules.yml: 3 added, 0 updated, 0 unchanged, 0 removed "
        "(2 groups, 1 recording rule counted, not cataloged); unknown service labels: payments",
        "  added: checkout/HighErrorRate",
        "  added: checkout/CheckoutLatencyHigh",
        "  added: payments/PaymentsDown",
        "Imported: 3 added, 0 updated, 0 removed.",
    ]
    path.write_text(fixture_text().replace("for: 1m", "for: 2m"))
    out = StringIO()
    call_command("import_alert_rules", str(path), stdout=out)
    assert "  updated: payments/PaymentsDown" in out.getvalue().splitlines()
    assert AlertRule.objects.get(name="PaymentsDown").for_duration == timedelta(minutes=2)


def test_the_command_names_file_line_group_and_rule_and_imports_nothing(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text(fixture_text())
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: edge\n    rules:\n      - alert: GatewayDown\n        for: 1m\n")
    with pytest.raises(CommandError) as caught:
        call_command("import_alert_rules", str(good), str(bad))
    assert str(caught.value).splitlines() == [
        "Nothing imported: 1 problem in bad.yml.",
        "  bad.yml:4 (group 'edge', rule 'GatewayDown'): groups[0].rules[0].expr: "
        "'expr' is missing: every rule needs a PromQL expression",
    ]
    assert not AlertRule.objects.exists()


def test_the_command_dry_run_reports_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "r.yml"
    path.write_text(fixture_text())
    out = StringIO()
    call_command("import_alert_rules", str(path), "--dry-run", stdout=out)
    assert out.getvalue().splitlines()[-1] == "Dry run: 3 added, 0 updated, 0 removed; nothing was written."
    assert not AlertRule.objects.exists()


def test_the_command_replace_removes_files_not_given(tmp_path: Path) -> None:
    import_rule_files(files=[("old.yml", fixture_text())])
    path = tmp_path / "new.yml"
    path.write_text("groups:\n  - name: n\n    rules:\n      - alert: New\n        expr: up == 0\n")
    out = StringIO()
    call_command("import_alert_rules", str(path), "--replace", stdout=out)
    assert "old.yml: removed with its 3 rules (--replace)" in out.getvalue()
    assert list(AlertRule.objects.values_list("name", flat=True)) == ["New"]


def test_the_command_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"nope\.yml: cannot read the file \(No such file or directory\)"):
        call_command("import_alert_rules", str(tmp_path / "nope.yml"))


def test_yaml_aliases_cannot_multiply_a_small_file_into_a_huge_catalog() -> None:
    rules = "".join(f"      - alert: A{index}\n        expr: up\n" for index in range(100))
    groups = "".join(f"  - name: g{index}\n    rules: *many\n" for index in range(60))
    text = f"x-rules: &many\n{rules.replace('      -', '  -').replace('        expr', '    expr')}groups:\n{groups}"
    assert errors_of("bomb.yml", text) == [
        "bomb.yml:1: x-rules: unknown field 'x-rules' (allowed: groups)",
        "bomb.yml:202: groups: 6000 rules in one file; at most 5000 are accepted (split the file)",
    ]
