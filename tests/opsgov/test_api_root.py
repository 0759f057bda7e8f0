"""/api/v1/ lists every API resource, each linked to its API route (absolute), never to an HTML page."""

from __future__ import annotations

import pytest
from django.urls import resolve
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

ROOT = "/api/v1/"


def test_the_root_links_every_readable_route_of_the_schema(client_for, personas) -> None:
    response = client_for(personas["SRE Lead"]).get(ROOT)
    assert response.status_code == 200
    links = response.json()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    readable = {
        path.removeprefix(ROOT).strip("/")
        for path, operations in schema["paths"].items()
        if "{" not in path and "get" in operations
    }
    assert readable <= set(links)  # every app's router: incidents, on-call, reviews, checks, SLOs, gates ...
    assert {"teams", "services", "metrics", "incidents", "checks/http", "slos", "gates", "policy"} <= set(links)
    assert links["teams"] == "http://testserver/api/v1/teams/"
    assert links["services"] == "http://testserver/api/v1/services/"


def test_every_link_is_an_api_route_that_answers_json(client_for, personas) -> None:
    client = client_for(personas["SRE Lead"])
    links = client.get(ROOT).json()
    for name, url in links.items():
        path = url.removeprefix("http://testserver")
        assert path.startswith(ROOT), name
        view = resolve(path).func
        assert hasattr(view, "cls"), f"{name} resolves to {view}, not an API view"
        if name in ("docs", "redoc"):
            continue  # HTML by design: the API's own documentation pages
        response = client.get(path, HTTP_ACCEPT="application/json")
        assert response.status_code == 200, (name, response.status_code)
        assert response["Content-Type"].startswith(("application/json", "application/vnd.oai.openapi")), name


def test_the_root_needs_a_role(api_client: APIClient, client_for, personas) -> None:
    assert api_client.get(ROOT).status_code == 401
    assert client_for(personas["outsider"]).get(ROOT).status_code == 403
