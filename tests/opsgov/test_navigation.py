"""The navigation highlights the area of the page shown, on every page of the area."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "area"),
    [
        ("/monitoring/slos/", "Monitoring"),
        ("/monitoring/runbooks/", "Monitoring"),
        ("/monitoring/alert-rules/", "Monitoring"),
        ("/monitoring/checks/", "Monitoring"),
        ("/incidents/", "Incidents"),
        ("/incidents/backlog/", "Improvement"),
    ],
)
def test_the_area_of_the_page_is_the_one_highlighted(
    client: Client, personas: dict[str, User], path: str, area: str
) -> None:
    client.force_login(personas["SRE Lead"])
    response = client.get(path)
    assert response.status_code == 200
    active = [item.label for item in response.context["nav_areas"] if item.active]
    assert active == [area]


def test_the_header_names_the_roles_and_says_superuser_for_a_superuser(
    client: Client, personas: dict[str, User], django_user_model: type[User]
) -> None:
    def roles_shown(user: User) -> str:
        client.force_login(user)
        page = client.get("/policy/").content.decode()
        return page.split('<span class="account-roles">', 1)[1].split("</span>", 1)[0]

    assert roles_shown(personas["SRE Lead"]) == "SRE Lead"
    root = django_user_model.objects.create_superuser("root", password="x")
    assert roles_shown(root) == "Superuser"
    root.groups.add(personas["SRE Lead"].groups.get())
    assert roles_shown(root) == "Superuser, SRE Lead"
    nobody = django_user_model.objects.create_user("nobody", password="x")
    assert roles_shown(nobody) == "No role"
