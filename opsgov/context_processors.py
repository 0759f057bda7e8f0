"""Template context shared by every page: the navigation of the eight areas."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

# (seed step, label, url name or None while the area has no pages yet)
NAVIGATION: list[tuple[int, str, str | None]] = [
    (1, "Monitoring", None),
    (2, "Incidents", None),
    (3, "Maintenance", None),
    (4, "Improvement", None),
    (5, "Security", None),
    (6, "Compliance", None),
    (7, "Support", None),
    (8, "Backups & DR", None),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    return {"navigation": NAVIGATION}
