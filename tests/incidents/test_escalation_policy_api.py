"""The escalation policy API: levels and services written as one document."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from incidents.models import EscalationPolicy, ServiceEscalation
from incidents.oncall import services as oncall_services
from opsgov.roles import SECURITY_LEAD, SRE_LEAD

from ..factories import ServiceFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/escalation-policies/"


@pytest.fixture
def sre(make_user: Callable[..., User], client_for: Callable[[User], APIClient]) -> APIClient:
    return client_for(make_user("sre", SRE_LEAD))


def test_it_creates_a_policy_with_levels_and_services(sre: APIClient, make_user: Callable[..., User]) -> None:
    make_user("ana")
    ServiceFactory.create(slug="checkout")
    oncall_services.schedule_create(slug="payments-primary", name="Payments primary")
    response = sre.post(
        URL,
        {
            "slug": "payments",
            "name": "Payments",
            "levels": [
                {"delay_minutes": 0, "schedule": "payments-primary"},
                {"delay_minutes": 15, "users": ["ana"]},
            ],
            "services": ["checkout"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = sre.get(f"{URL}payments/").json()
    assert body["levels"] == [
        {"position": 1, "delay_minutes": 0, "schedule": "payments-primary", "users": []},
        {"position": 2, "delay_minutes": 15, "schedule": None, "users": ["ana"]},
    ]
    assert body["services"] == ["checkout"]


def test_a_level_that_notifies_nobody_is_a_400_naming_it(sre: APIClient) -> None:
    response = sre.post(URL, {"slug": "p", "name": "P", "levels": [{"delay_minutes": 5}]}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "levels.0"
    assert not EscalationPolicy.objects.exists()


def test_a_service_moves_to_its_new_policy(sre: APIClient) -> None:
    ServiceFactory.create(slug="checkout")
    oncall_services.schedule_create(slug="rota", name="Rota")
    level = [{"schedule": "rota"}]
    assert (
        sre.post(URL, {"slug": "a", "name": "A", "levels": level, "services": ["checkout"]}, format="json").status_code
        == 201
    )
    assert (
        sre.post(URL, {"slug": "b", "name": "B", "levels": level, "services": ["checkout"]}, format="json").status_code
        == 201
    )
    assert ServiceEscalation.objects.get(service__slug="checkout").policy.slug == "b"
    assert sre.delete(f"{URL}b/").status_code == 400  # still covers checkout
    assert sre.delete(f"{URL}a/").status_code == 204


def test_only_the_sre_lead_manages_policies(
    make_user: Callable[..., User], client_for: Callable[[User], APIClient], api_client: APIClient
) -> None:
    security = client_for(make_user("sec", SECURITY_LEAD))
    assert api_client.get(URL).status_code == 401
    assert security.get(URL).status_code == 200
    assert security.post(URL, {"slug": "x", "name": "X"}, format="json").status_code == 403
