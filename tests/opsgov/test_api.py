"""The core REST API: teams, services, policy; validation errors with field paths; tokens."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from opsgov.models import Service
from opsgov.roles import DEVOPS_LEAD, SRE_LEAD, TECH_LEAD

from ..factories import ServiceFactory, TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sre(make_user: Callable[..., User], client_for: Callable[[User], APIClient]) -> APIClient:
    return client_for(make_user("sre", SRE_LEAD))


def test_it_creates_a_service_and_reads_it_back(sre: APIClient) -> None:
    TeamFactory.create(slug="platform")
    response = sre.post(
        "/api/v1/services/",
        {
            "slug": "api-gateway",
            "name": "API gateway",
            "tier": 1,
            "owner_team": "platform",
            "links": [{"title": "Grafana", "url": "https://grafana.example.com/d/1"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    detail = sre.get("/api/v1/services/api-gateway/").json()
    assert detail["owner_team"] == "platform"
    assert detail["tier"] == 1
    assert detail["lifecycle"] == "active"
    assert detail["links"] == [{"title": "Grafana", "url": "https://grafana.example.com/d/1"}]


def test_bad_input_answers_400_with_field_paths_and_writes_nothing(sre: APIClient) -> None:
    TeamFactory.create(slug="platform")
    response = sre.post(
        "/api/v1/services/",
        {
            "slug": "not a slug",
            "name": "X",
            "tier": 7,
            "owner_team": "nobody",
            "links": [{"title": "x", "url": "ftp:/x"}],
        },
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    fields = {error["field"] for error in body["errors"]}
    assert {"slug", "tier", "owner_team", "links.0.url"} <= fields
    assert Service.objects.count() == 0


def test_duplicate_slug_is_a_400_on_the_slug_field(sre: APIClient) -> None:
    ServiceFactory.create(slug="checkout")
    team = TeamFactory.create()
    response = sre.post("/api/v1/services/", {"slug": "checkout", "name": "Again", "owner_team": team.slug})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "slug"


def test_partial_update_validates_through_the_service(sre: APIClient) -> None:
    ServiceFactory.create(slug="checkout", tier=2)
    response = sre.patch("/api/v1/services/checkout/", {"tier": 1, "lifecycle": "deprecated"}, format="json")
    assert response.status_code == 200
    service = Service.objects.get(slug="checkout")
    assert (service.tier, service.lifecycle) == (1, "deprecated")
    response = sre.patch("/api/v1/services/checkout/", {"lifecycle": "retired"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "lifecycle"


def test_services_filter_by_tier_lifecycle_team_and_search(sre: APIClient) -> None:
    payments = TeamFactory.create(slug="payments")
    ServiceFactory.create(slug="checkout", name="Checkout", tier=1, owner_team=payments)
    ServiceFactory.create(slug="ledger", name="Ledger", tier=1, owner_team=payments, lifecycle="deprecated")
    ServiceFactory.create(slug="search", name="Search", tier=3, description="full-text checkout search")

    def slugs(query: str) -> list[str]:
        response = sre.get(f"/api/v1/services/?{query}")
        assert response.status_code == 200
        return sorted(row["slug"] for row in response.json()["results"])

    assert slugs("tier=1") == ["checkout", "ledger"]
    assert slugs("tier=1&tier=3") == ["checkout", "ledger", "search"]
    assert slugs("lifecycle=active") == ["checkout", "search"]
    assert slugs("owner_team=payments") == ["checkout", "ledger"]
    assert slugs("q=checkout") == ["checkout", "search"]
    assert slugs("slug=ledger&slug=search") == ["ledger", "search"]


def test_an_unknown_filter_value_is_a_400(sre: APIClient) -> None:
    response = sre.get("/api/v1/services/?tier=9")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "tier"


def test_lists_are_paginated(sre: APIClient) -> None:
    team = TeamFactory.create()
    for index in range(7):
        ServiceFactory.create(slug=f"svc-{index}", owner_team=team)
    first = sre.get("/api/v1/services/?page_size=5").json()
    assert first["count"] == 7 and len(first["results"]) == 5 and first["next"]
    second = sre.get(first["next"]).json()
    assert len(second["results"]) == 2 and second["next"] is None


def test_list_query_count_does_not_grow_with_rows(
    sre: APIClient, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    team = TeamFactory.create()
    for index in range(30):
        ServiceFactory.create(slug=f"svc-{index}", owner_team=TeamFactory.create() if index % 2 else team)
    with django_assert_max_num_queries(6):  # token, permissions, count, page (teams joined)
        assert sre.get("/api/v1/services/").status_code == 200


def test_deleting_a_team_that_owns_services_is_refused(sre: APIClient) -> None:
    service = ServiceFactory.create()
    response = sre.delete(f"/api/v1/teams/{service.owner_team.slug}/")
    assert response.status_code == 400
    assert "services" in response.json()["errors"][0]["message"]


def test_the_policy_endpoint_shows_the_effective_policy(sre: APIClient) -> None:
    body = sre.get("/api/v1/policy/").json()
    assert body["incidents"]["severities"]["SEV-1"]["response_target"] == "15 minutes"
    assert body["support"]["tiers"]["P4"]["response"] == "1 business day"
    assert body["targets"]["mtbf"] == "720 hours"


def test_the_openapi_schema_documents_the_endpoints(sre: APIClient) -> None:
    response = sre.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/services/", "/api/v1/teams/{slug}/", "/api/v1/policy/"} <= set(paths)


def test_create_api_token_prints_a_working_token_once(
    make_user: Callable[..., User], capsys: pytest.CaptureFixture[str]
) -> None:
    make_user("devops", DEVOPS_LEAD)
    call_command("create_api_token", "devops")
    token = capsys.readouterr().out.strip()
    assert len(token) == 64
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/services/").status_code == 200
    from knox.models import AuthToken

    assert not AuthToken.objects.filter(digest__contains=token).exists()  # only a hash is stored


def test_a_wrong_token_is_401(api_client: APIClient) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Bearer " + "0" * 64)
    assert api_client.get("/api/v1/services/").status_code == 401


def test_session_authentication_works_for_the_browser(make_user: Callable[..., User], client: object) -> None:
    user = make_user("tech", TECH_LEAD)
    client.force_login(user)  # type: ignore[attr-defined]
    assert client.get("/api/v1/services/").status_code == 200  # type: ignore[attr-defined]
