"""Helpers of the backups tests: fixture reports and jobs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.test import Client

from backups import services
from backups.models import BackupJob
from tests.factories import ServiceFactory

_LOCAL = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    """A report of the shared fixtures (copied into tests/backups/fixtures so CI has them)."""
    return (_LOCAL / name).read_text(encoding="utf-8")


def make_job(**fields: Any) -> BackupJob:
    fields.setdefault("service", ServiceFactory())
    fields.setdefault("data_type", "database")
    fields.setdefault("name", f"job-{BackupJob.objects.count() + 1}")
    fields.setdefault("tool", "restic")
    fields.setdefault("repository", "s3:s3.example.com/backups")
    if "interval" not in fields and "cron" not in fields:
        fields.setdefault("interval", timedelta(hours=1))
    fields.setdefault("grace", timedelta(minutes=30))
    return services.job_create(**fields)


class PingClient(Client):
    """Django's test client that, after each request, applies the accepted pings to runs: what the task
    backups.apply_pings does moments after a ping (the endpoint itself only stores it, one INSERT)."""

    def request(self, **request: Any) -> Any:
        response = super().request(**request)
        services.apply_pings()
        return response
