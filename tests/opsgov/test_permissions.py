"""Roles x endpoints: anonymous 401, a role without the permission 403, the right role 2xx."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

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

from ..factories import ServiceFactory, TeamFactory

pytestmark = pytest.mark.django_db

EVERY_ROLE = set(ALL_ROLES)

# (method, path, body, roles allowed, status when allowed)
MATRIX: list[tuple[str, str, dict | None, set[str], int]] = [
    ("get", "/api/v1/teams/", None, EVERY_ROLE, 200),
    ("get", "/api/v1/teams/platform/", None, EVERY_ROLE, 200),
    ("get", "/api/v1/services/", None, EVERY_ROLE, 200),
    ("get", "/api/v1/services/checkout/", None, EVERY_ROLE, 200),
    ("get", "/api/v1/policy/", None, EVERY_ROLE, 200),
    ("post", "/api/v1/teams/", {"slug": "new-team", "name": "New team"}, {SRE_LEAD}, 201),
    ("patch", "/api/v1/teams/platform/", {"description": "Changed"}, {SRE_LEAD}, 200),
    ("delete", "/api/v1/teams/empty/", None, {SRE_LEAD}, 204),
    (
        "post",
        "/api/v1/services/",
        {"slug": "new-service", "name": "New", "owner_team": "platform"},
        {SRE_LEAD, DEVOPS_LEAD},
        201,
    ),
    ("patch", "/api/v1/services/checkout/", {"tier": 1}, {SRE_LEAD, DEVOPS_LEAD, TECH_LEAD}, 200),
    ("delete", "/api/v1/services/checkout/", None, {SRE_LEAD}, 204),
]


@pytest.fixture
def records() -> None:
    platform = TeamFactory.create(slug="platform", name="Platform")
    TeamFactory.create(slug="empty", name="Empty")
    ServiceFactory.create(slug="checkout", owner_team=platform)


@pytest.mark.parametrize(("method", "path", "body", "allowed", "status"), MATRIX)
def test_anonymous_requests_get_401(
    records: None, api_client: APIClient, method: str, path: str, body: dict | None, allowed: set[str], status: int
) -> None:
    response = getattr(api_client, method)(path, body, format="json")
    assert response.status_code == 401


@pytest.mark.parametrize("role", [*ALL_ROLES, "outsider"])
@pytest.mark.parametrize(("method", "path", "body", "allowed", "status"), MATRIX)
def test_each_role_gets_exactly_what_it_is_granted(
    records: None,
    make_user: Callable[..., User],
    client_for: Callable[[User], APIClient],
    role: str,
    method: str,
    path: str,
    body: dict | None,
    allowed: set[str],
    status: int,
) -> None:
    user = make_user(f"user-{role}".replace(" ", "-"), *([role] if role != "outsider" else []))
    response = getattr(client_for(user), method)(path, body, format="json")
    expected = status if role in allowed else 403
    assert response.status_code == expected, (role, method, path, response.content[:300])


def test_the_roles_exist_as_groups_after_migrate() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= {
        SRE_LEAD,
        DEVOPS_LEAD,
        TECH_LEAD,
        SECURITY_LEAD,
        COMPLIANCE_OFFICER,
        SUPPORT_TEAM,
        PRODUCT_OWNER,
    }


def test_compliance_officers_can_read_the_audit_trail() -> None:
    group = Group.objects.get(name=COMPLIANCE_OFFICER)
    assert group.permissions.filter(content_type__app_label="auditlog", codename="view_logentry").exists()
    assert not group.permissions.filter(codename="change_service").exists()
