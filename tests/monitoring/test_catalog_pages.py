"""Pages of the alert-rule catalog and runbooks: login, empty states, coverage, overdue, forms, queries, demo."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, date, datetime
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoAssertNumQueries

from monitoring.catalog import demo as demo_catalog
from monitoring.catalog.rendering import RUNBOOK_TEMPLATE, TEMPLATE_SECTIONS, render_markdown
from monitoring.catalog.selectors import rule_coverage, rules_without_runbook
from monitoring.catalog.services import import_rule_files
from monitoring.models import AlertRule, RuleFile, Runbook
from opsgov.roles import ALL_ROLES, SECURITY_LEAD, SRE_LEAD
from tests.conftest import missing_service
from tests.factories import ServiceFactory, UserFactory

from .catalog_helpers import fixture_text, make_runbook

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def text(response: HttpResponseBase) -> str:
    assert isinstance(response, HttpResponse)
    return response.content.decode()


@pytest.fixture
def sre(make_user: Callable[..., User]) -> User:
    return make_user("sre", SRE_LEAD, first_name="Sam", last_name="Reyes")


@pytest.fixture
def signed_in(client: Client, sre: User) -> Client:
    client.force_login(sre)
    return client


@pytest.fixture
def reader(client: Client, make_user: Callable[..., User]) -> Client:
    client.force_login(make_user("sec", SECURITY_LEAD))
    return client


@pytest.fixture
def catalog() -> None:
    ServiceFactory.create(slug="checkout", name="Checkout")
    ServiceFactory.create(slug="payments", name="Payments")
    import_rule_files(files=[("rules.yml", fixture_text())])


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("monitoring:alert-rule-list", {}),
        ("monitoring:alert-rule-detail", {"pk": 1}),
        ("monitoring:runbook-list", {}),
        ("monitoring:runbook-create", {}),
        ("monitoring:runbook-detail", {"slug": "db"}),
        ("monitoring:runbook-edit", {"slug": "db"}),
    ],
)
def test_pages_need_a_login(client: Client, name: str, kwargs: dict[str, Any]) -> None:
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_monitoring_area_is_in_the_navigation(signed_in: Client) -> None:
    body = text(signed_in.get(reverse("monitoring:runbook-list")))
    assert 'href="/monitoring/alert-rules/"' in body
    assert "catalog.css" in body


# --- Alert rules --------------------------------------------------------------------------------


def test_the_rule_list_without_rules_explains_how_to_import(signed_in: Client) -> None:
    body = text(signed_in.get(reverse("monitoring:alert-rule-list")))
    assert "No alert rules yet" in body
    assert "manage.py import_alert_rules" in body
    assert "carry a runbook" not in body  # no coverage figure without rules


@pytest.mark.usefixtures("catalog")
def test_the_rule_list_shows_coverage_and_flags_rules_without_runbook(signed_in: Client) -> None:
    body = text(signed_in.get(reverse("monitoring:alert-rule-list")))
    assert "<strong>2 of 3</strong> rules carry a runbook" in body
    assert '<a href="?has_runbook=false">1 without a runbook</a>' in body
    assert body.count('class="rule-no-runbook"') == 1
    assert body.count(">No runbook</span>") == 1
    assert 'class="external-link">External runbook</a>' in body
    assert '<span class="sev sev-1"' in body
    assert "5m" in body and "10m" in body


@pytest.mark.usefixtures("catalog")
def test_the_rule_list_filters_and_shows_the_filtered_coverage(signed_in: Client) -> None:
    body = text(signed_in.get(reverse("monitoring:alert-rule-list") + "?service=checkout"))
    assert "2 rules matching these filters" in body
    assert "Matching the filters: 1 of 2 carry a runbook." in body
    assert "PaymentsDown" not in body
    body = text(signed_in.get(reverse("monitoring:alert-rule-list") + "?q=nothing-like-this"))
    assert "No alert rules match these filters" in body


@pytest.mark.usefixtures("catalog")
def test_the_rule_page_shows_the_rule_and_links_a_runbook(signed_in: Client) -> None:
    rule = AlertRule.objects.get(name="CheckoutLatencyHigh")
    make_runbook("checkout-latency", title="Checkout latency")
    body = text(signed_in.get(rule.get_absolute_url()))
    assert "histogram_quantile(0.99" in body
    assert "This rule pages someone without telling them what to do." in body
    assert '<code>severity="warning"</code>' in body
    response = signed_in.post(rule.get_absolute_url(), {"runbook": "checkout-latency"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.runbook is not None and rule.runbook_linked_by_hand
    body = text(signed_in.get(rule.get_absolute_url()))
    assert 'href="/monitoring/runbooks/checkout-latency/">Checkout latency</a>' in body
    assert "(linked in opsgov)" in body


@pytest.mark.usefixtures("catalog")
def test_readers_see_no_forms_and_cannot_post(reader: Client) -> None:
    rule = AlertRule.objects.get(name="CheckoutLatencyHigh")
    body = text(reader.get(rule.get_absolute_url()))
    assert "Save runbook link" not in body
    assert reader.post(rule.get_absolute_url(), {"runbook": ""}).status_code == 403
    assert "Import rule files" not in text(reader.get(reverse("monitoring:alert-rule-list")))
    assert reader.post(reverse("monitoring:alert-rule-import"), {}).status_code == 403
    assert reader.get(reverse("monitoring:runbook-create")).status_code == 403


def test_uploading_rule_files_on_the_page(signed_in: Client) -> None:
    upload = SimpleUploadedFile("prod.yml", fixture_text().encode(), content_type="application/yaml")
    response = signed_in.post(reverse("monitoring:alert-rule-import"), {"rule_files": [upload]}, follow=True)
    body = text(response)
    assert "prod.yml: 3 added, 0 updated, 0 unchanged, 0 removed" in body
    assert AlertRule.objects.count() == 3


def test_an_invalid_upload_lists_every_problem_and_imports_nothing(signed_in: Client) -> None:
    bad = b"groups:\n  - name: edge\n    rules:\n      - alert: X\n        for: 1 minute\n"
    upload = SimpleUploadedFile("edge.yml", bad, content_type="application/yaml")
    response = signed_in.post(reverse("monitoring:alert-rule-import"), {"rule_files": [upload]})
    assert response.status_code == 400
    body = text(response)
    assert "Nothing was imported." in body
    assert "edge.yml:4 (group &#x27;edge&#x27;, rule &#x27;X&#x27;): groups[0].rules[0].expr:" in body
    assert "edge.yml:5 (group &#x27;edge&#x27;, rule &#x27;X&#x27;): groups[0].rules[0].for:" in body
    assert not RuleFile.objects.exists()


def test_the_rule_list_uses_a_fixed_number_of_queries(
    signed_in: Client, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    services = [ServiceFactory.create(slug=f"svc-{index}") for index in range(3)]

    def rules_text(count: int) -> str:
        lines = ["groups:", "  - name: g", "    rules:"]
        for index in range(count):
            lines += [
                f"      - alert: A{index}",
                "        expr: up == 0",
                f"        labels: {{severity: critical, service: {services[index % 3].slug}}}",
            ]
        return "\n".join(lines) + "\n"

    import_rule_files(files=[("r.yml", rules_text(5))])
    # session, user, permissions (2), service choices, count, rows, coverage, roles (layout).
    with django_assert_max_num_queries(10) as few:
        signed_in.get(reverse("monitoring:alert-rule-list"))
    import_rule_files(files=[("r.yml", rules_text(45))])
    with django_assert_max_num_queries(10) as many:
        body = text(signed_in.get(reverse("monitoring:alert-rule-list")))
    assert "45 rules" in body
    assert len(many.captured_queries) == len(few.captured_queries)


# --- Runbooks -----------------------------------------------------------------------------------


def test_the_runbook_list_without_runbooks_offers_the_first(signed_in: Client) -> None:
    body = text(signed_in.get(reverse("monitoring:runbook-list")))
    assert "No runbooks yet" in body
    assert 'href="/monitoring/runbooks/new/">Write the first one</a>' in body


def test_overdue_reviews_are_highlighted(signed_in: Client) -> None:
    checkout = ServiceFactory.create(slug="checkout", name="Checkout")
    make_runbook("old", title="Old runbook", services=[checkout], reviewed=date(2026, 4, 1))
    make_runbook("fresh", title="Fresh runbook", reviewed=date(2026, 11, 1))
    with time_machine.travel(NOW, tick=False):
        body = text(signed_in.get(reverse("monitoring:runbook-list")))
    assert '<a href="?overdue=true">1 runbook overdue for review</a>' in body
    assert body.count('class="runbook-overdue"') == 1
    assert body.count("Review overdue</span>") == 1
    assert "2026-10-01" in body  # Old runbook's due date: 1 April + 6 months
    assert "reviewed every 6 months" in body
    with time_machine.travel(NOW, tick=False):
        body = text(signed_in.get(reverse("monitoring:runbook-list") + "?overdue=true"))
    assert "Old runbook" in body and "Fresh runbook" not in body


def test_the_runbook_list_uses_a_fixed_number_of_queries(
    signed_in: Client, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    services = [ServiceFactory.create(slug=f"svc-{index}") for index in range(3)]
    owner = UserFactory.create()

    def add(start: int, count: int) -> None:
        for index in range(start, start + count):
            make_runbook(f"rb-{index}", owner=owner, services=services[: index % 3 + 1], reviewed=date(2026, 1, 1))

    add(0, 4)
    # session, user, permissions (2), service choices, overdue count, page count, rows, services, roles.
    with django_assert_max_num_queries(11) as few:
        signed_in.get(reverse("monitoring:runbook-list"))
    add(4, 40)
    with django_assert_max_num_queries(11) as many:
        body = text(signed_in.get(reverse("monitoring:runbook-list")))
    assert "44 runbooks" in body
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_runbook_page_renders_sanitized_markdown_with_services_and_rules(signed_in: Client) -> None:
    checkout = ServiceFactory.create(slug="checkout", name="Checkout")
    runbook = make_runbook(
        "checkout-errors",
        title="Checkout errors",
        services=[checkout],
        body="## Mitigation\n\n<script>alert('x')</script>\n\n[bad](javascript:alert(1)) and `kubectl`",
    )
    import_rule_files(
        files=[
            (
                "r.yml",
                "groups:\n  - name: g\n    rules:\n      - alert: CheckoutDown\n        expr: up == 0\n"
                "        annotations: {runbook_url: /monitoring/runbooks/checkout-errors/}\n",
            )
        ]
    )
    body = text(signed_in.get(runbook.get_absolute_url()))
    assert "<h2>Mitigation</h2>" in body and "<code>kubectl</code>" in body
    assert "<script>alert" not in body and "javascript:alert" not in body
    assert 'href="/services/checkout/">Checkout</a>' in body
    assert ">CheckoutDown</a>" in body
    assert "Mark as reviewed" in body


def test_marking_reviewed_on_the_page(signed_in: Client, sre: User) -> None:
    runbook = make_runbook("db", reviewed=date(2026, 3, 1))
    with time_machine.travel(NOW, tick=False):
        assert "Overdue since 2026-09-01." in text(signed_in.get(runbook.get_absolute_url()))
        response = signed_in.post(reverse("monitoring:runbook-review", kwargs={"slug": "db"}), {"reviewed_on": ""})
        assert response.status_code == 302
        runbook.refresh_from_db()
        assert (runbook.last_reviewed_at, runbook.last_reviewed_by) == (date(2026, 11, 20), sre)
        refused = signed_in.post(
            reverse("monitoring:runbook-review", kwargs={"slug": "db"}), {"reviewed_on": "2027-01-01"}
        )
    assert refused.status_code == 400
    assert "A review day cannot be in the future." in text(refused)


def test_the_new_runbook_form_starts_from_the_template(signed_in: Client) -> None:
    ServiceFactory.create(slug="checkout", name="Checkout")
    body = text(signed_in.get(reverse("monitoring:runbook-create") + "?service=checkout"))
    for section in ("## Overview", "## Symptoms", "## Diagnosis", "## Mitigation", "## Escalation", "## Verification"):
        assert section in body
    assert re.search(r'name="services" value="checkout"[^>]*checked', body)
    assert '<option value="sre" selected>' in body


def test_creating_and_editing_a_runbook_on_the_page(signed_in: Client, sre: User) -> None:
    ServiceFactory.create(slug="checkout", name="Checkout")
    data = {"title": "Checkout down", "slug": "", "services": ["checkout"], "owner": "sre", "body": RUNBOOK_TEMPLATE}
    response = signed_in.post(reverse("monitoring:runbook-create"), data)
    assert response.status_code == 302 and response["Location"] == "/monitoring/runbooks/checkout-down/"
    runbook = Runbook.objects.get()
    assert (runbook.owner, [service.slug for service in runbook.services.all()]) == (sre, ["checkout"])
    edit = reverse("monitoring:runbook-edit", kwargs={"slug": "checkout-down"})
    assert "Checkout down" in text(signed_in.get(edit))
    response = signed_in.post(edit, {**data, "slug": "checkout-down", "title": "Checkout is down", "services": []})
    assert response.status_code == 302
    runbook.refresh_from_db()
    assert (runbook.title, runbook.services.count()) == ("Checkout is down", 0)


def test_runbook_form_errors_are_shown_next_to_the_fields(signed_in: Client) -> None:
    make_runbook("taken")
    response = signed_in.post(
        reverse("monitoring:runbook-create"), {"title": "X", "slug": "taken", "owner": "sre", "body": ""}
    )
    assert response.status_code == 400
    assert "This field is required." in text(response)  # body
    response = signed_in.post(
        reverse("monitoring:runbook-create"), {"title": "X", "slug": "taken", "owner": "sre", "body": "b"}
    )
    assert response.status_code == 400
    assert "Runbook with this Slug already exists." in text(response)
    assert Runbook.objects.count() == 1


# --- Demo data ----------------------------------------------------------------------------------


@pytest.fixture
def demo_world() -> None:
    for slug in ("api-gateway", "checkout", "payments-ledger", "auth", "web-frontend", "reporting"):
        ServiceFactory.create(slug=slug)
    for role in ALL_ROLES:
        UserFactory.create(username=role.lower().replace(" ", "-"), roles=[role])


@pytest.mark.usefixtures("demo_world")
def test_the_demo_seeds_runbooks_and_rules_once(signed_in: Client) -> None:
    out = StringIO()
    with time_machine.travel(NOW, tick=False):
        demo_catalog.seed(stdout=out)
        demo_catalog.seed(stdout=out)
        overdue = [runbook.slug for runbook in Runbook.objects.all() if runbook.is_review_overdue()]
        body = text(signed_in.get(reverse("monitoring:alert-rule-list")))
    assert out.getvalue().splitlines() == [
        "Demo runbooks: 7 (1 overdue for review); alert rules: 10 imported from opsgov-demo.rules.yml.",
        "Demo runbooks already present; skipped.",
    ]
    assert overdue == ["web-frontend-errors"]
    assert [rule.name for rule in rules_without_runbook()] == ["ReportingNightlyJobLate"]
    coverage = rule_coverage()
    # 10 alerts: checkout 2, ledger 2, edge 2, identity 1, web 2, reporting 1; all but reporting's carry a runbook.
    assert (coverage.total, coverage.with_runbook, coverage.without_service) == (10, 9, 0)
    assert AlertRule.objects.filter(runbook__isnull=False).count() == 8  # the CDN alert links an external runbook
    assert "<strong>9 of 10</strong> rules carry a runbook" in body


def test_promtool_accepts_the_demo_rule_file(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        missing_service("promtool", "install Debian's prometheus package")
    path = tmp_path / demo_catalog.RULE_FILE_NAME
    path.write_text(demo_catalog.rule_file_yaml())
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "12 rules found" in checked.stdout  # 10 alerts + 2 recording rules


@pytest.mark.parametrize(("slug", "body"), [(slug, body) for slug, *_, body in demo_catalog.RUNBOOKS])
def test_demo_runbooks_follow_the_template_and_render_cleanly(slug: str, body: str) -> None:
    headings = [line[3:] for line in body.splitlines() if line.startswith("## ")]
    assert headings == list(TEMPLATE_SECTIONS), slug
    html = render_markdown(body)
    assert "```" not in html, "every fenced block becomes <pre>"
    assert "<table>" in html


@pytest.mark.usefixtures("catalog")
def test_the_admin_lists_the_catalog_read_only(client: Client) -> None:
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    make_runbook("db")
    rule = AlertRule.objects.get(name="PaymentsDown")
    for model in ("runbook", "rulefile", "alertrule"):
        assert client.get(f"/admin/monitoring/{model}/").status_code == 200
    assert client.get("/admin/monitoring/alertrule/add/").status_code == 403  # rules come from files
    body = text(client.get(f"/admin/monitoring/alertrule/{rule.pk}/change/"))
    assert "up{job=&quot;payments&quot;} == 0" in body and 'name="expr"' not in body
    response = client.post(f"/admin/monitoring/alertrule/{rule.pk}/change/", {"runbook": Runbook.objects.get().pk})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.runbook.slug if rule.runbook else None, rule.runbook_linked_by_hand) == ("db", True)
