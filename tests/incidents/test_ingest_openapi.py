"""The ingestion endpoints in the OpenAPI schema (/api/v1/schema/), and the schema stays valid OpenAPI 3.0."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from jsonschema import Draft202012Validator, ValidationError
from rest_framework.test import APIClient

from incidents.ingest.openapi import ingest_paths
from incidents.ingest.schemas import AlertmanagerWebhook
from opsgov.roles import SRE_LEAD

from .test_ingest_support import payload

INGEST_PATHS = {
    "/api/v1/ingest/alertmanager/{token}/": "AlertmanagerWebhook",
    "/api/v1/ingest/alertmanager/": "AlertmanagerWebhook",
    "/api/v1/ingest/pagerduty/{token}/enqueue": "EventsV2Event",
    "/api/v1/ingest/v2/enqueue": "EventsV2Event",
    "/api/v1/ingest/pagerduty/v2/enqueue": "EventsV2Event",
    "/api/v1/ingest/pagerduty/enqueue": "EventsV2Event",
}
STATUSES = {"202", "400", "401", "403", "411", "413", "415", "429", "503"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    """The schema as drf-spectacular generates it (once: generating it takes seconds)."""
    document: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    return document


def body_validator(schema: dict[str, Any], component: str) -> Draft202012Validator:
    """A JSON Schema validator for components.schemas[component], its references resolved in `schema`."""
    return Draft202012Validator({"$ref": f"#/components/schemas/{component}", "components": schema["components"]})


@pytest.mark.django_db
def test_the_schema_served_lists_every_ingestion_endpoint_with_its_body_and_answers(
    make_user: Callable[..., Any], client_for: Callable[[Any], APIClient]
) -> None:
    response = client_for(make_user("sre", SRE_LEAD)).get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path, body in INGEST_PATHS.items():
        assert set(paths[path]) == {"post"}, path
        operation = paths[path]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{body}"
        }
        assert set(operation["responses"]) == STATUSES, path
        assert operation["tags"] == ["ingest"]
    token = paths["/api/v1/ingest/alertmanager/{token}/"]["post"]["parameters"]
    assert [(parameter["name"], parameter["in"]) for parameter in token] == [("token", "path")]
    # Events v2 without a token in the URL: a Bearer header, or nothing (the body's routing_key).
    assert paths["/api/v1/ingest/v2/enqueue"]["post"]["security"] == [{"integrationToken": []}, {}]
    assert paths["/api/v1/ingest/alertmanager/"]["post"]["security"] == [{"integrationToken": []}]
    assert schema["components"]["securitySchemes"]["integrationToken"]["scheme"] == "bearer"
    accepted = paths["/api/v1/ingest/v2/enqueue"]["post"]["responses"]["202"]["content"]["application/json"]
    assert accepted["schema"] == {"$ref": "#/components/schemas/EventsV2Accepted"}


def test_the_schema_is_valid_openapi_with_the_ingestion_endpoints(tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    written = yaml.safe_load(out.read_text())
    assert set(INGEST_PATHS) <= set(written["paths"])


def test_pydantics_own_json_schema_would_not_be_valid_openapi_3_0(schema: dict[str, Any]) -> None:
    # What openapi_30 is for: pydantic writes `type: null` and `const`, which OpenAPI 3.0 refuses.
    validate_schema(schema)
    broken = copy.deepcopy(schema)
    broken["components"]["schemas"]["AlertmanagerWebhook"] = {
        key: value for key, value in AlertmanagerWebhook.model_json_schema().items() if key != "$defs"
    }
    with pytest.raises(ValidationError, match="is not valid under any of the given schemas"):
        validate_schema(broken)


@pytest.mark.parametrize(
    ("component", "fixture"),
    [
        ("AlertmanagerWebhook", "alertmanager-v4-firing"),
        ("AlertmanagerWebhook", "alertmanager-v4-resolved"),
        ("EventsV2Event", "pagerduty-v2-trigger"),
        ("EventsV2Event", "pagerduty-v2-acknowledge"),
        ("EventsV2Event", "pagerduty-v2-resolve"),
    ],
)
def test_the_documented_bodies_accept_what_real_senders_send(
    schema: dict[str, Any], component: str, fixture: str
) -> None:
    errors = list(body_validator(schema, component).iter_errors(payload(fixture)))
    assert errors == []


def test_the_documented_event_refuses_what_the_endpoint_refuses(schema: dict[str, Any]) -> None:
    validator = body_validator(schema, "EventsV2Event")
    trigger = payload("pagerduty-v2-trigger")
    del trigger["payload"]["summary"]
    assert not validator.is_valid(trigger)
    resolve = payload("pagerduty-v2-resolve")
    del resolve["dedup_key"]
    assert not validator.is_valid(resolve)
    assert not validator.is_valid({**payload("pagerduty-v2-trigger"), "event_action": "escalate"})
    webhook = payload("alertmanager-v4-firing")
    webhook["version"] = "3"
    assert not body_validator(schema, "AlertmanagerWebhook").is_valid(webhook)


def test_every_named_ingestion_route_is_described() -> None:
    from incidents.ingest.urls import urlpatterns

    paths, _ = ingest_paths()
    named = [pattern.name for pattern in urlpatterns if pattern.name]
    assert len(paths) == len(named) == len(INGEST_PATHS)
    assert set(paths) == set(INGEST_PATHS)
