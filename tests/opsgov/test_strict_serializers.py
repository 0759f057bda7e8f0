"""Every create and update route refuses the fields it does not take, naming them (opsgov.api.strict).

The walk reads the generated OpenAPI schema, so a route added later is covered
without touching this file; the demo data gives each detail route a record.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from incidents.models import Schedule, ScheduleOverride
from opsgov.api.serializers import ServiceSerializer
from opsgov.api.strict import READ_ONLY_FIELD, UNKNOWN_FIELD, StrictSerializer
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

UNKNOWN = "zz_not_a_field"
WRITE_METHODS = ("post", "put", "patch")
# Senders' payloads (Alertmanager, Events v2) carry many keys opsgov does not read: validated by
# pydantic with their own rules, they are not DRF serializers. So are scanner reports (a Trivy or
# Grype document as the body of a scan import, read by security.parsers with field paths), Falco
# alerts (security.alerts), GitHub's Dependabot webhook deliveries (signed; the alert read by the
# Dependabot parser) and backup tools' reports (a restic or pgBackRest output as the body,
# read by backups.parsers).
NOT_SERIALIZER_ROUTES = re.compile(
    r"^/api/v1/(ingest/|security/(scans|alerts|dependabot/webhook)/$|backups/jobs/\{[^}]+\}/reports/$)"
)
PARAM = re.compile(r"\{([^}]+)\}")


def _errors(response: Any) -> dict[str, str]:
    return {error["field"]: error["message"] for error in response.json()["errors"]}


def _first(client: APIClient, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    assert rows, f"the demo data has no row at {url}: add one so its write routes are checked"
    return dict(rows[0])


def _concrete(client: APIClient, template: str) -> str:
    """The path with each {param} replaced by a value of the first row of the collection before it."""
    url = ""
    for part in re.split(r"(\{[^}]+\})", template):
        match = PARAM.fullmatch(part)
        if match is None:
            url += part
            continue
        name = match.group(1)
        row = _first(client, url)
        field = name if name in row else name.rsplit("_", 1)[-1]  # schedule_slug -> slug of a schedule
        url += str(row[field])
    return url


def _write_operations() -> list[tuple[str, str, dict[str, Any]]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method, path, operation)
        for path, operations in schema["paths"].items()
        if not NOT_SERIALIZER_ROUTES.match(path)
        for method, operation in operations.items()
        if method in WRITE_METHODS and "requestBody" in operation
    ]


@pytest.fixture
def admin_client() -> APIClient:
    call_command("seed_demo", allow_without_debug=True, stdout=io.StringIO())
    admin = User.objects.filter(is_superuser=True).get()
    now = timezone.now()
    for schedule in Schedule.objects.all():  # the demo has no override; their routes need one
        ScheduleOverride.objects.create(schedule=schedule, user=admin, starts_at=now, ends_at=now + timedelta(hours=1))
    client = APIClient()
    client.force_authenticate(admin)
    return client


def test_every_write_route_refuses_an_unknown_field_naming_it(admin_client: APIClient) -> None:
    operations = _write_operations()
    assert len(operations) >= 50  # the walk found the API (60 write routes with a body when written)
    failures = []
    for method, template, operation in operations:
        url = _concrete(admin_client, template)
        content = operation["requestBody"]["content"]
        if "application/json" in content:
            response = getattr(admin_client, method)(url, {UNKNOWN: 1}, format="json")
        else:
            response = getattr(admin_client, method)(url, {UNKNOWN: "1"}, format="multipart")
        errors = _errors(response) if response.status_code == 400 else {}
        if UNKNOWN not in errors:  # the SLI push validates with pydantic: its own words, same path
            failures.append(f"{method.upper()} {template}: {response.status_code} {response.content[:200]!r}")
    assert failures == [], "\n".join(failures)


def test_a_create_with_fields_it_does_not_take_is_refused_and_writes_nothing(client_for, personas) -> None:
    TeamFactory.create(slug="payments")
    client = client_for(personas["SRE Lead"])
    response = client.post(
        "/api/v1/teams/",
        {"slug": "core", "name": "Core", "colour": "blue", "created_at": "2020-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert _errors(response) == {"colour": UNKNOWN_FIELD, "created_at": READ_ONLY_FIELD}
    assert client.get("/api/v1/teams/core/").status_code == 404


def test_unknown_fields_are_reported_with_the_other_errors_and_nested_paths() -> None:
    team = TeamFactory.create()
    serializer = ServiceSerializer(
        data={
            "slug": "shop",
            "name": "",
            "owner_team": team.slug,
            "links": [{"title": "Docs", "url": "https://docs.example.com", "colour": "red"}],
        }
    )
    assert not serializer.is_valid()
    assert set(serializer.errors) == {"name", "links"}
    assert serializer.errors["links"][0] == {"colour": [UNKNOWN_FIELD]}


def test_only_the_unknown_keys_are_refused() -> None:
    class Probe(StrictSerializer):
        pass

    assert Probe(data={}).is_valid()
    probe = Probe(data={"csrfmiddlewaretoken": "x", "x": 1})  # the token of an HTML form is not data
    assert not probe.is_valid()
    assert set(probe.errors) == {"x"}
