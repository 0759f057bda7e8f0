"""The ingestion endpoints in the OpenAPI schema (a drf-spectacular postprocessing hook).

The endpoints are plain Django views (incidents.ingest.views), which
drf-spectacular does not enumerate, so `add_ingest_endpoints` (listed in
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]) adds them to the generated schema:
one POST operation per named route of incidents.ingest.urls, its path reversed
from the route's name. Request bodies come from the pydantic models that
validate them (incidents.ingest.schemas), so the schema cannot drift from what
is accepted; pydantic writes JSON Schema 2020-12, which `openapi_30` turns into
OpenAPI 3.0's dialect (`nullable` instead of a null type, `enum` instead of `const`).
Responses are those of incidents.ingest.handling: 202 once stored, 400, 401,
403, 411, 413, 415, 429 for repeated bad tokens from one address, and 503 when the event could not be
stored or the integration is over its policy cap.
"""

from __future__ import annotations

from typing import Annotated, Any

from django.urls import reverse
from pydantic import Field, TypeAdapter

from .handling import MAX_BODY_BYTES
from .schemas import AlertmanagerWebhook, PagerDutyFollowUp, PagerDutyTrigger

TAG = "ingest"
SECURITY_SCHEME = "integrationToken"
_REF_TEMPLATE = "#/components/schemas/{model}"
_STAND_IN = "STAND-IN"  # reversed in place of the path parameter, then replaced

#: An Events v2 event, as incidents.ingest.schemas.parse_pagerduty_event tells them apart (by event_action).
_EVENTS_V2_EVENT: TypeAdapter[Any] = TypeAdapter(
    Annotated[PagerDutyTrigger | PagerDutyFollowUp, Field(discriminator="event_action")]
)


def openapi_30(schema: Any) -> Any:
    """A pydantic JSON Schema (2020-12) rewritten for OpenAPI 3.0's schema objects; `$defs` left out."""
    if isinstance(schema, list):
        return [openapi_30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: openapi_30(value) for key, value in schema.items() if key != "$defs"}
    if "const" in out:
        out["enum"] = [out.pop("const")]
    variants = out.get("anyOf")
    if isinstance(variants, list) and {"type": "null"} in variants:
        others = [variant for variant in variants if variant != {"type": "null"}]
        del out["anyOf"]
        if len(others) == 1 and "$ref" not in others[0]:
            out = {**others[0], **out}
        else:
            out["anyOf" if len(others) > 1 else "allOf"] = others
        out["nullable"] = True
    return out


def _components(schema: dict[str, Any]) -> dict[str, Any]:
    """The named schemas (pydantic's `$defs`) of a pydantic JSON Schema, for components.schemas."""
    return {name: openapi_30(definition) for name, definition in schema.get("$defs", {}).items()}


def _error(description: str, example: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": _REF_TEMPLATE.format(model="IngestError")}, "example": example}
        },
    }


def _responses(accepted: dict[str, Any], *, routing_key: bool) -> dict[str, Any]:
    invalid = "The body is not valid JSON or not a valid event (`errors` names each field path)."
    if routing_key:
        invalid += (
            " Without a token in the URL or header: a `routing_key` that is missing, malformed or not an enabled "
            'integration\'s token, answered as PagerDuty answers it: `errors` holds "Invalid routing key".'
        )
    return {
        "202": {
            "description": "Stored; it is processed asynchronously.",
            "content": {"application/json": {"schema": accepted}},
        },
        "400": _error(
            invalid,
            {"status": "invalid event", "message": "Event object is invalid", "errors": ["Invalid routing key"]}
            if routing_key
            else {
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": ["payload.summary: Field required"],
            },
        ),
        "401": _error(
            "The token is missing or malformed (or the Authorization header is not `Bearer <token>`).",
            {"status": "unauthorized", "message": "The integration token is malformed."},
        ),
        "403": _error(
            "The token matches no integration, the integration is disabled, or it is of the other kind.",
            {"status": "forbidden", "message": "The token matches no integration."},
        ),
        "411": _error(
            "No Content-Length header.",
            {"status": "invalid event", "message": "A Content-Length header is required."},
        ),
        "413": _error(
            f"The body is over {MAX_BODY_BYTES} bytes.",
            {"status": "payload too large", "message": f"The body exceeds the limit of {MAX_BODY_BYTES} bytes."},
        ),
        "415": _error(
            "The body is not `application/json`, or it is compressed.",
            {"status": "unsupported media type", "message": "Send the event as application/json, not text/plain."},
        ),
        "429": _error(
            "Too many requests refused for their token from this address (INGEST_BAD_TOKEN_RATE): wait "
            "`Retry-After` seconds. Never the answer to a request with a valid token.",
            {
                "status": "too many requests",
                "message": "Too many requests with a refused token from this address; retry in 42 seconds. "
                "This one: The token matches no integration.",
                "retry_after": 42,
            },
        ),
        "503": _error(
            "The event could not be stored (database unavailable), or the integration is over the policy's "
            "`incidents.ingest_max_events_per_minute` (with `Retry-After`): send it again later.",
            {"status": "error", "message": "The event could not be stored; retry later."},
        ),
    }


def _operation(
    *,
    operation_id: str,
    summary: str,
    description: str,
    body: dict[str, Any],
    accepted: dict[str, Any],
    token_in_path: bool,
    routing_key: bool = False,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "description": description,
        "tags": [TAG],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": _responses(accepted, routing_key=routing_key),
    }
    if token_in_path:
        operation["parameters"] = [
            {
                "name": "token",
                "in": "path",
                "required": True,
                "description": "The integration's token (printed once by `manage.py create_integration`).",
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{16,128}$"},
            }
        ]
        operation["security"] = [{}]  # the token is in the path
    else:
        # Bearer header; on the Events v2 routes, or no header and the body's routing_key.
        operation["security"] = [{SECURITY_SCHEME: []}, {}] if routing_key else [{SECURITY_SCHEME: []}]
    return operation


def _path(name: str, *, token: bool) -> str:
    if not token:
        return reverse(name)
    return reverse(name, kwargs={"token": _STAND_IN}).replace(_STAND_IN, "{token}")


def ingest_paths() -> tuple[dict[str, Any], dict[str, Any]]:
    """The ingestion endpoints as OpenAPI 3.0 paths, and the component schemas they refer to."""
    webhook = AlertmanagerWebhook.model_json_schema(ref_template=_REF_TEMPLATE)
    event = _EVENTS_V2_EVENT.json_schema(ref_template=_REF_TEMPLATE)
    components = {
        **_components(webhook),
        "AlertmanagerWebhook": openapi_30(webhook),
        **_components(event),
        "EventsV2Event": openapi_30(event),
        "IngestError": {
            "type": "object",
            "properties": {
                "status": {"type": "string"},
                "message": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "string"}},
                "retry_after": {
                    "type": "integer",
                    "description": "429 and a capacity 503: seconds to wait (also in the Retry-After header).",
                },
            },
            "required": ["status", "message"],
        },
        "IngestAccepted": {
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["success"]},
                "message": {"type": "string", "enum": ["Event accepted"]},
                "event": {"type": "string", "format": "uuid", "description": "The stored event's id."},
            },
            "required": ["status", "message", "event"],
        },
        "EventsV2Accepted": {
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["success"]},
                "message": {"type": "string", "enum": ["Event processed"]},
                "dedup_key": {
                    "type": "string",
                    "description": "The event's dedup_key, or the one given to a trigger sent without one.",
                },
            },
            "required": ["status", "message", "dedup_key"],
        },
    }
    ref = {name: {"$ref": _REF_TEMPLATE.format(model=name)} for name in components}
    alertmanager_text = (
        "Prometheus Alertmanager's webhook (`webhook_configs`, payload version 4). Stored with action "
        '"trigger" while the group fires and "resolve" once it is resolved, keyed by its groupKey.'
    )
    events_v2_text = (
        "A PagerDuty Events API v2 event (trigger, acknowledge or resolve). A trigger without a dedup_key gets "
        "one, returned in the answer."
    )
    routing_key_text = (
        " The integration token is taken from, first found: an `Authorization: Bearer` header, else the body's "
        "`routing_key` (as PagerDuty's https://events.pagerduty.com/v2/enqueue takes it), which a header token "
        "overrides."
    )
    paths: dict[str, Any] = {
        _path("ingest-alertmanager", token=True): _operation(
            operation_id="ingest_alertmanager_token",
            summary="Send an Alertmanager webhook (token in the URL)",
            description=alertmanager_text,
            body=ref["AlertmanagerWebhook"],
            accepted=ref["IngestAccepted"],
            token_in_path=True,
        ),
        _path("ingest-alertmanager-bearer", token=False): _operation(
            operation_id="ingest_alertmanager",
            summary="Send an Alertmanager webhook (token in the Authorization header)",
            description=alertmanager_text,
            body=ref["AlertmanagerWebhook"],
            accepted=ref["IngestAccepted"],
            token_in_path=False,
        ),
        _path("ingest-pagerduty", token=True): _operation(
            operation_id="ingest_events_v2_token",
            summary="Send an Events v2 event (token in the URL)",
            description=events_v2_text + " The token in the URL wins over any `routing_key` in the body.",
            body=ref["EventsV2Event"],
            accepted=ref["EventsV2Accepted"],
            token_in_path=True,
        ),
    }
    for name, operation_id in (
        ("ingest-events-v2", "ingest_events_v2"),
        ("ingest-pagerduty-v2", "ingest_events_v2_pagerduty_v2"),
        ("ingest-pagerduty-bearer", "ingest_events_v2_pagerduty"),
    ):
        paths[_path(name, token=False)] = _operation(
            operation_id=operation_id,
            summary="Send an Events v2 event (routing_key in the body, or token in the Authorization header)",
            description=events_v2_text + routing_key_text,
            body=ref["EventsV2Event"],
            accepted=ref["EventsV2Accepted"],
            token_in_path=False,
            routing_key=True,
        )
    return {path: {"post": operation} for path, operation in paths.items()}, components


def add_ingest_endpoints(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: `result` (the generated schema) with the ingestion endpoints added.

    Raises ValueError if a component name of ours is already taken by another schema.
    """
    paths, schemas = ingest_paths()
    components = result.setdefault("components", {})
    existing = components.setdefault("schemas", {})
    clashes = sorted(name for name in schemas if name in existing and existing[name] != schemas[name])
    if clashes:
        raise ValueError(f"OpenAPI component names already in use: {', '.join(clashes)}")
    existing.update(schemas)
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An integration's token, printed once by `manage.py create_integration`.",
    }
    result["paths"] = {**result.get("paths", {}), **paths}
    return result
