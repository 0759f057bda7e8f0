"""Helpers of the maintenance tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User

from maintenance import services
from maintenance.models import MaintenanceWindow
from opsgov.models import Service
from opsgov.roles import PRODUCT_OWNER
from tests.factories import UserFactory

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def product_owner() -> User:
    user = User.objects.filter(username="po-helper").first()
    return user or UserFactory.create(username="po-helper", roles=[PRODUCT_OWNER])


def approved_window(service: Service, **kwargs: Any) -> MaintenanceWindow:
    """Sundays 02:00-06:00 UTC, approved."""
    defaults: dict[str, Any] = {
        "name": f"{service.slug} Sunday",
        "services": [service],
        "first_start": utc(2026, 1, 4, 2, 0),
        "duration": timedelta(hours=4),
        "timezone_name": "UTC",
        "rrule": "FREQ=WEEKLY;BYDAY=SU",
    }
    defaults.update(kwargs)
    window = services.create_window(**defaults)
    return services.approve_window(window=window, user=product_owner(), now=utc(2026, 1, 1))
