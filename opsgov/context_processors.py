"""Template context shared by every page: the navigation and the signed-in user's roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

# The eight areas of the seed's operations phase:
# (seed step, label, url name or None while the area has no pages yet).
# An area is highlighted on every page under its URL, or under AREA_PREFIXES[label] when given.
NAVIGATION: list[tuple[int, str, str | None]] = [
    (1, "Monitoring", "monitoring:slo-list"),
    (2, "Incidents", "incident-list"),
    (3, "Maintenance", "maintenance:calendar"),
    (4, "Improvement", "action-item-list"),
    (5, "Security", "security:dashboard"),
    (6, "Compliance", None),
    (7, "Support", "support-queue"),
    (8, "Backups & DR", "backups:overview"),
]

# Areas whose pages live under a wider path than their first page's URL.
AREA_PREFIXES: dict[str, str] = {
    "Monitoring": "/monitoring/",
    "Maintenance": "/maintenance/",
    "Security": "/security/",
}

# Pages of the core app, shown before the areas: (label, url name).
CORE_NAVIGATION: list[tuple[str, str]] = [
    ("Home", "home"),
    ("Gates", "gate-index"),
    ("Services", "service-list"),
    ("Teams", "team-list"),
    ("On call", "oncall-now"),
    ("Policy", "policy"),
]

# Tools: (label, url name, staff only).
TOOL_NAVIGATION: list[tuple[str, str, bool]] = [
    ("Email reports", "report-subscriptions", False),
    ("API tokens", "api-tokens", False),
    ("API docs", "api-docs", False),
    ("Admin", "admin:index", True),
]


@dataclass(frozen=True)
class NavItem:
    """One navigation link; `url` is empty for an area that has no page yet ("coming soon")."""

    label: str
    url: str
    active: bool = False
    step: int | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.url)


def _is_active(request: HttpRequest, url: str) -> bool:
    if not url:
        return False
    if url == "/":
        return request.path == "/"
    return request.path.startswith(url)


def _item(request: HttpRequest, label: str, url_name: str | None, step: int | None = None) -> NavItem:
    url = reverse(url_name) if url_name else ""
    return NavItem(label=label, url=url, active=_is_active(request, url), step=step)


def _area_items(request: HttpRequest) -> list[NavItem]:
    """The areas, with only the one whose prefix matches the page most closely highlighted."""
    items = []
    for step, label, name in NAVIGATION:
        url = reverse(name) if name else ""
        items.append((NavItem(label=label, url=url, step=step), AREA_PREFIXES.get(label, url) if url else ""))
    matches = [prefix for _, prefix in items if _is_active(request, prefix)]
    best = max(matches, key=len, default="")
    return [
        NavItem(label=item.label, url=item.url, active=bool(best) and prefix == best, step=item.step)
        for item, prefix in items
    ]


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    is_staff = bool(user is not None and user.is_authenticated and user.is_staff)
    return {
        # Kept as the raw data structure for code that reads it directly.
        "navigation": NAVIGATION,
        "nav_core": [_item(request, label, name) for label, name in CORE_NAVIGATION],
        "nav_areas": _area_items(request),
        "nav_tools": [
            _item(request, label, name) for label, name, staff_only in TOOL_NAVIGATION if is_staff or not staff_only
        ],
        # Evaluated (one query) only when a template shows it.
        "user_roles": SimpleLazyObject(lambda: _role_names(request)),
    }


def _role_names(request: HttpRequest) -> list[str]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    return list(user.groups.order_by("name").values_list("name", flat=True))
