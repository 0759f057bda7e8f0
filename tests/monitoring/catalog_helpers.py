"""Shared helpers of the alert-rule catalog and runbook tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User

from monitoring.catalog.services import runbook_create
from monitoring.models import Runbook
from opsgov.models import Service
from tests.factories import UserFactory

FIXTURES = Path(__file__).parent / "fixtures"
# A copy of shared/fixtures/prometheus-alert-rules.yml (two groups, three alerts, one recording rule,
# CheckoutLatencyHigh without runbook_url).
FIXTURE_RULES = FIXTURES / "prometheus-alert-rules.yml"


def fixture_text() -> str:
    return FIXTURE_RULES.read_text(encoding="utf-8")


def make_runbook(
    slug: str,
    *,
    title: str | None = None,
    owner: User | None = None,
    services: list[Service] | None = None,
    reviewed: date | None = None,
    body: str = "## Overview\n\nWhat to do.\n",
    **extra: Any,
) -> Runbook:
    return runbook_create(
        title=title or slug.replace("-", " ").capitalize(),
        slug=slug,
        body=body,
        owner=owner or UserFactory.create(),
        services=services or [],
        last_reviewed_at=reviewed,
        **extra,
    )
