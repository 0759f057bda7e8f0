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
