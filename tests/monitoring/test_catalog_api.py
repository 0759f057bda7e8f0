"""The runbook and alert-rule API: personas (401/403), filters, writes with 400 field paths, import, schema."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from monitoring.catalog.rule_files import MAX_FILE_BYTES
from monitoring.catalog.services import import_rule_files
from monitoring.models import AlertRule, RuleFile, Runbook
from opsgov.roles import (
    ALL_ROLES,
    COMPLIANCE_OFFICER,
    DEVOPS_LEAD,
    PRODUCT_OWNER,
    SECURITY_LEAD,
    SRE_LEAD,
    SUPPORT_TEAM,
    TECH_LEAD,
)
from tests.factories import ServiceFactory

from .catalog_helpers import fixture_text, make_runbook

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WRITERS = {SRE_LEAD, DEVOPS_LEAD, TECH_LEAD}
READERS = {SECURITY_LEAD, COMPLIANCE_OFFICER, SUPPORT_TEAM, PRODUCT_OWNER}


def errors(response: Any) -> dict[str, str]:
    assert response.status_code == 400, response.content
    return {error["field"]: error["message"] for error in response.json()["errors"]}


@pytest.fixture
def as_role(personas: dict[str, User], client_for: Callable[[User], APIClient]) -> Callable[[str], APIClient]:
    return lambda role: client_for(personas[role])


@pytest.fixture
def catalog() -> None:
    ServiceFactory.create(slug="checkout", name="Checkout")
    ServiceFactory.create(slug="payments", name="Payments")
    import_rule_files(files=[("rules.yml", fixture_text())])


# --- Permissions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/runbooks/"),
        ("post", "/api/v1/runbooks/"),
        ("get", "/api/v1/alert-rules/"),
        ("post", "/api/v1/alert-rules/import/"),
    ],
)
def test_anonymous_requests_get_401_and_people_without_a_role_403(
    api_client: APIClient, as_role: Callable[[str], APIClient], method: str, path: str
) -> None:
    assert getattr(api_client, method)(path).status_code == 401
    assert getattr(as_role("outsider"), method)(path).status_code == 403


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_role_reads_and_only_sre_devops_and_tech_leads_write(
    as_role: Callable[[str], APIClient], personas: dict[str, User], role: str
) -> None:
    client = as_role(role)
    runbook = make_runbook("db-failover")
    assert client.get("/api/v1/runbooks/").status_code == 200
    assert client.get("/api/v1/alert-rules/").status_code == 200
    body = {"title": f"By {role}", "body": "## Overview", "owner": personas[role].username}
    created = client.post("/api/v1/runbooks/", body, format="json")
    patched = client.patch(f"/api/v1/runbooks/{runbook.slug}/", {"title": "Renamed"}, format="json")
    reviewed = client.post(f"/api/v1/runbooks/{runbook.slug}/review/", {}, format="json")
    imported = client.post("/api/v1/alert-rules/import/?name=r.yml", fixture_text(), content_type="application/yaml")
    expected = (201, 200, 200, 200) if role in WRITERS else (403, 403, 403, 403)
    assert (created.status_code, patched.status_code, reviewed.status_code, imported.status_code) == expected


# --- Runbooks -----------------------------------------------------------------------------------


def test_creating_a_runbook_reviews_it_today_and_renders_sanitized_html(
    as_role: Callable[[str], APIClient], personas: dict[str, User]
) -> None:
    ServiceFactory.create(slug="checkout")
    body = {
        "title": "Checkout errors",
        "services": ["checkout"],
        "owner": personas[TECH_LEAD].username,
        "body": "## Mitigation\n\n<script>steal()</script>[x](javascript:alert(1))",
    }
    with time_machine.travel(NOW, tick=False):
        response = as_role(SRE_LEAD).post("/api/v1/runbooks/", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert {key: data[key] for key in ("slug", "services", "owner", "last_reviewed_at", "last_reviewed_by")} == {
        "slug": "checkout-errors",
        "services": ["checkout"],
        "owner": "tech_lead",
        "last_reviewed_at": "2026-11-20",
        "last_reviewed_by": "sre_lead",
    }
    assert (data["review_due_on"], data["review_overdue"], data["url"]) == (
        "2027-05-20",
        False,
        "/monitoring/runbooks/checkout-errors/",
    )
    assert "<h2>Mitigation</h2>" in data["body_html"]
    assert "<script" not in data["body_html"] and "javascript" not in data["body_html"]
    assert data["body"] == body["body"], "the source is kept as written"


def test_bad_runbook_input_answers_400_with_field_paths(
    as_role: Callable[[str], APIClient], personas: dict[str, User]
) -> None:
    client = as_role(SRE_LEAD)
    assert errors(client.post("/api/v1/runbooks/", {"services": ["nope"], "owner": "ghost"}, format="json")) == {
        "title": "This field is required.",
        "body": "This field is required.",
        "owner": "Object with username=ghost does not exist.",
        "services": "Object with slug=nope does not exist.",
    }
    make_runbook("taken")
    owner = personas[SRE_LEAD].username
    duplicate = client.post("/api/v1/runbooks/", {"title": "T", "slug": "taken", "body": "b", "owner": owner})
    assert errors(duplicate) == {"slug": "Runbook with this Slug already exists."}
    reserved = client.post("/api/v1/runbooks/", {"title": "T", "slug": "new", "body": "b", "owner": owner})
    assert errors(reserved) == {"slug": "'new' is reserved for a page; choose another slug."}
    with time_machine.travel(NOW, tick=False):
        future = client.post(
            "/api/v1/runbooks/", {"title": "T", "body": "b", "owner": owner, "last_reviewed_at": "2026-12-01"}
        )
    assert errors(future) == {"last_reviewed_at": "A review day cannot be in the future."}
    patched = client.patch("/api/v1/runbooks/taken/", {"last_reviewed_at": "2026-01-01"}, format="json")
    assert errors(patched) == {"last_reviewed_at": "Record a review with POST .../review/ instead."}
    assert Runbook.objects.count() == 1


def test_review_endpoint_records_the_caller_and_refuses_bad_days(
    as_role: Callable[[str], APIClient], personas: dict[str, User]
) -> None:
    make_runbook("db", reviewed=date(2026, 3, 1))
    client = as_role(DEVOPS_LEAD)
    with time_machine.travel(NOW, tick=False):
        assert client.get("/api/v1/runbooks/db/").json()["review_overdue"] is True  # due 2026-09-01
        assert errors(client.post("/api/v1/runbooks/db/review/", {"reviewed_on": "2026-02-01"})) == {
            "reviewed_on": "The runbook was already reviewed on 2026-03-01, after 2026-02-01."
        }
        assert errors(client.post("/api/v1/runbooks/db/review/", {"reviewed_on": "soon"})) == {
            "reviewed_on": "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
        }
        data = client.post("/api/v1/runbooks/db/review/", {}).json()
    assert (data["last_reviewed_at"], data["last_reviewed_by"], data["review_overdue"]) == (
        "2026-11-20",
        "devops_lead",
        False,
    )


def test_runbook_list_filters(as_role: Callable[[str], APIClient], personas: dict[str, User]) -> None:
    checkout = ServiceFactory.create(slug="checkout")
    make_runbook("old", title="Old one", services=[checkout], reviewed=date(2026, 1, 1), owner=personas[SRE_LEAD])
    make_runbook("fresh", title="Fresh one", reviewed=date(2026, 11, 1), body="Restart the *pooler*")
    client = as_role(SECURITY_LEAD)

    def slugs(query: str) -> list[str]:
        with time_machine.travel(NOW, tick=False):
            response = client.get(f"/api/v1/runbooks/{query}")
        assert response.status_code == 200, response.content
        return [row["slug"] for row in response.json()["results"]]

    assert slugs("") == ["fresh", "old"]
    assert slugs("?overdue=true") == ["old"]
    assert slugs("?overdue=false") == ["fresh"]
    assert slugs("?service=checkout") == ["old"]
    assert slugs("?q=pooler") == ["fresh"]
    assert slugs("?owner=sre_lead") == ["old"]
    assert errors(client.get("/api/v1/runbooks/?service=nope"))["service"].startswith("Select a valid choice.")


# --- Alert rules --------------------------------------------------------------------------------


@pytest.mark.usefixtures("catalog")
def test_alert_rule_list_and_detail(as_role: Callable[[str], APIClient]) -> None:
    client = as_role(SUPPORT_TEAM)
    rows = client.get("/api/v1/alert-rules/").json()["results"]
    assert [row["name"] for row in rows] == ["HighErrorRate", "CheckoutLatencyHigh", "PaymentsDown"]
    high = rows[0]
    assert {key: high[key] for key in ("file", "group", "for", "severity", "service", "has_runbook", "runbook")} == {
        "file": "rules.yml",
        "group": "checkout",
        "for": "5m",
        "severity": "SEV-1",
        "service": "checkout",
        "has_runbook": True,
        "runbook": None,
    }
    assert high["runbook_url"] == "https://runbooks.example.internal/checkout/high-error-rate"
    detail = client.get(f"/api/v1/alert-rules/{high['id']}/").json()
    assert detail["labels"] == {"severity": "critical", "service": "checkout"}
    assert detail["url"] == f"/monitoring/alert-rules/{high['id']}/"


@pytest.mark.usefixtures("catalog")
@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("?has_runbook=false", ["CheckoutLatencyHigh"]),
        ("?has_runbook=true", ["HighErrorRate", "PaymentsDown"]),
        ("?severity=SEV-1", ["HighErrorRate", "PaymentsDown"]),
        ("?severity=SEV-3&service=checkout", ["CheckoutLatencyHigh"]),
        ("?service=payments", ["PaymentsDown"]),
        ("?q=latency", ["CheckoutLatencyHigh"]),
        ("?q=up%7Bjob", ["PaymentsDown"]),  # the expression is searched too
        ("?has_service=false", []),
    ],
)
def test_alert_rule_filters(as_role: Callable[[str], APIClient], query: str, names: list[str]) -> None:
    response = as_role(SRE_LEAD).get(f"/api/v1/alert-rules/{query}")
    assert response.status_code == 200, response.content
    assert [row["name"] for row in response.json()["results"]] == names


@pytest.mark.usefixtures("catalog")
def test_bad_filter_values_are_400_naming_the_field(as_role: Callable[[str], APIClient]) -> None:
    response = as_role(SRE_LEAD).get("/api/v1/alert-rules/?severity=SEV-9&service=nowhere")
    assert set(errors(response)) == {"severity", "service"}


@pytest.mark.usefixtures("catalog")
def test_linking_a_runbook_by_hand(as_role: Callable[[str], APIClient]) -> None:
    make_runbook("checkout-latency")
    rule = AlertRule.objects.get(name="CheckoutLatencyHigh")
    client = as_role(TECH_LEAD)
    data = client.patch(f"/api/v1/alert-rules/{rule.pk}/", {"runbook": "checkout-latency"}, format="json").json()
    assert (data["runbook"], data["runbook_linked_by_hand"], data["has_runbook"]) == ("checkout-latency", True, True)
    assert errors(client.patch(f"/api/v1/alert-rules/{rule.pk}/", {"runbook": "nope"}, format="json")) == {
        "runbook": "Object with slug=nope does not exist."
    }
    data = client.patch(f"/api/v1/alert-rules/{rule.pk}/", {"runbook": None}, format="json").json()
    assert (data["runbook"], data["has_runbook"]) == (None, False)
    assert (
        as_role(SECURITY_LEAD).patch(f"/api/v1/alert-rules/{rule.pk}/", {"runbook": None}, format="json").status_code
        == 403
    )


# --- Import -------------------------------------------------------------------------------------


def test_import_a_raw_yaml_body_then_reimport(as_role: Callable[[str], APIClient]) -> None:
    client = as_role(SRE_LEAD)
    response = client.post("/api/v1/alert-rules/import/?name=prod.yml", fixture_text(), content_type="application/yaml")
    assert response.status_code == 200, response.content
    assert response.json() | {"files": None} == {
        "added": 3,
        "updated": 0,
        "removed": 0,
        "unknown_services": ["checkout", "payments"],
        "files": None,
        "removed_files": [],
    }
    assert response.json()["files"][0]["unknown_services"] == [
        {"service": "checkout", "rules": ["checkout/HighErrorRate", "checkout/CheckoutLatencyHigh"]},
        {"service": "payments", "rules": ["payments/PaymentsDown"]},
    ], "the labels the catalog page shows as unknown"
    assert RuleFile.objects.get().imported_by is not None
    again = client.post(
        "/api/v1/alert-rules/import/?name=prod.yml",
        fixture_text().replace("for: 10m", "for: 15m"),
        content_type="text/yaml",
    ).json()
    assert (again["added"], again["updated"], again["removed"]) == (0, 1, 0)
    assert again["files"][0]["updated"] == ["checkout/CheckoutLatencyHigh"]


def test_import_multipart_files_with_replace(as_role: Callable[[str], APIClient]) -> None:
    import_rule_files(files=[("old.yml", fixture_text())])
    other = "groups:\n  - name: n\n    rules:\n      - alert: New\n        expr: up == 0\n"
    upload = SimpleUploadedFile("new.yml", other.encode(), content_type="application/yaml")
    response = as_role(DEVOPS_LEAD).post("/api/v1/alert-rules/import/?replace=true", {"files": [upload]})
    assert response.status_code == 200, response.content
    assert (response.json()["removed"], response.json()["removed_files"]) == (3, ["old.yml"])
    assert list(AlertRule.objects.values_list("name", flat=True)) == ["New"]


def test_an_invalid_upload_is_400_naming_file_line_group_and_rule(as_role: Callable[[str], APIClient]) -> None:
    bad = (
        "groups:\n  - name: edge\n    rules:\n      - alert: GatewayDown\n"
        "        expr: up == 0\n        for: 1 minute\n"
    )
    response = as_role(SRE_LEAD).post("/api/v1/alert-rules/import/?name=edge.yml", bad, content_type="application/yaml")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Nothing imported: 1 problem in edge.yml.",
        "errors": [
            {
                "field": "edge.yml:groups[0].rules[0].for",
                "message": "edge.yml:6 (group 'edge', rule 'GatewayDown'): groups[0].rules[0].for: "
                "'1 minute' is not a Prometheus duration (e.g. 30s, 5m, 1h30m, 1d)",
                "file": "edge.yml",
                "line": 6,
                "group": "edge",
                "rule": "GatewayDown",
            }
        ],
    }
    assert not AlertRule.objects.exists()


def test_a_scheme_relative_runbook_url_is_400_naming_the_annotation(as_role: Callable[[str], APIClient]) -> None:
    text = (
        "groups:\n  - name: edge\n    rules:\n      - alert: GatewayDown\n        expr: up == 0\n"
        "        annotations:\n          runbook_url: //evil.example/runbooks/gateway\n"
    )
    response = as_role(SRE_LEAD).post(
        "/api/v1/alert-rules/import/?name=edge.yml", text, content_type="application/yaml"
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "edge.yml:groups[0].rules[0].annotations.runbook_url"
    assert "'//evil.example/runbooks/gateway' is not an absolute http(s) URL" in error["message"]
    assert not AlertRule.objects.exists()


def test_a_yaml_syntax_error_upload_names_the_line(as_role: Callable[[str], APIClient]) -> None:
    response = as_role(SRE_LEAD).post(
        "/api/v1/alert-rules/import/?name=x.yml", "groups:\n  - name: [\n", content_type="application/yaml"
    )
    [error] = response.json()["errors"]
    assert (response.status_code, error["file"], error["line"], error["field"]) == (400, "x.yml", 3, "x.yml")


def test_import_request_problems(as_role: Callable[[str], APIClient]) -> None:
    client = as_role(SRE_LEAD)
    assert errors(client.post("/api/v1/alert-rules/import/", fixture_text(), content_type="application/yaml")) == {
        "name": "Give the file name in ?name= (e.g. checkout.yml)."
    }
    assert errors(client.post("/api/v1/alert-rules/import/", {})) == {
        "files": "Send one or more rule files as `files`."
    }
    assert (
        client.post("/api/v1/alert-rules/import/?name=a.yml", "{}", content_type="application/json").status_code == 415
    )
    too_big = "# padding\n" * (MAX_FILE_BYTES // 10 + 1)
    assert (
        client.post("/api/v1/alert-rules/import/?name=a.yml", too_big, content_type="application/yaml").status_code
        == 413
    )
    upload = SimpleUploadedFile("big.yml", too_big.encode(), content_type="application/yaml")
    assert client.post("/api/v1/alert-rules/import/", {"files": [upload]}).status_code == 413
    assert not RuleFile.objects.exists()


def test_the_openapi_schema_documents_the_catalog(as_role: Callable[[str], APIClient]) -> None:
    schema = as_role(SRE_LEAD).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/runbooks/"])
    assert {"get", "put", "patch"} <= set(paths["/api/v1/runbooks/{slug}/"])
    assert "post" in paths["/api/v1/runbooks/{slug}/review/"]
    assert {"get", "patch"} <= set(paths["/api/v1/alert-rules/{id}/"])
    imported = paths["/api/v1/alert-rules/import/"]["post"]
    assert set(imported["requestBody"]["content"]) == {"multipart/form-data", "application/yaml"}
    assert {"200", "400", "413"} <= set(imported["responses"])
    parameters = {parameter["name"] for parameter in paths["/api/v1/alert-rules/"]["get"]["parameters"]}
    assert {"service", "severity", "has_runbook", "q"} <= parameters


def test_the_api_lists_use_a_fixed_number_of_queries(
    as_role: Callable[[str], APIClient], django_assert_max_num_queries: Any
) -> None:
    client = as_role(SRE_LEAD)
    services = [ServiceFactory.create(slug=f"svc-{index}") for index in range(3)]

    def grow(count: int) -> None:
        start = Runbook.objects.count()
        for index in range(start, start + count):
            make_runbook(f"rb-{index}", services=services[: index % 3 + 1])
        lines = ["groups:", "  - name: g", "    rules:"]
        for index in range(Runbook.objects.count()):
            lines += [
                f"      - alert: A{index}",
                "        expr: up == 0",
                f"        labels: {{severity: critical, service: svc-{index % 3}}}",
                f"        annotations: {{runbook_url: /monitoring/runbooks/rb-{index}/}}",
            ]
        import_rule_files(files=[("r.yml", "\n".join(lines) + "\n")])

    def counts() -> tuple[int, int]:
        # token auth (2), permissions (2), count, rows, prefetches (runbooks: services, rules).
        with django_assert_max_num_queries(9) as runbooks:
            assert client.get("/api/v1/runbooks/").status_code == 200
        with django_assert_max_num_queries(9) as rules:
            assert client.get("/api/v1/alert-rules/").status_code == 200
        return len(runbooks.captured_queries), len(rules.captured_queries)

    grow(3)
    few = counts()
    grow(30)
    assert client.get("/api/v1/alert-rules/").json()["count"] == 33
    assert counts() == few
