"""`make run PORT=N`: the base URL follows the port, and the demo's HTTP checks probe this instance."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitoring.checks import demo as demo_checks
from monitoring.models import HttpCheck
from tests.factories import ServiceFactory

ROOT = Path(__file__).resolve().parents[2]


def _base_url(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if key not in ("PORT", "OPSGOV_BASE_URL")}
    return subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.OPSGOV_BASE_URL)"],
        env={**clean, "DJANGO_SETTINGS_MODULE": "opsgov.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_default_base_url_follows_port() -> None:
    assert _base_url().stdout.strip() == "http://127.0.0.1:8000"
    assert _base_url(PORT="9123").stdout.strip() == "http://127.0.0.1:9123"
    assert _base_url(PORT="9123", OPSGOV_BASE_URL="https://ops.example.com").stdout.strip() == (
        "https://ops.example.com"
    )
    bad = _base_url(PORT="eighty")
    assert bad.returncode != 0
    assert "Environment variable PORT" in bad.stderr


def test_make_run_gives_every_process_the_base_url_of_its_port() -> None:
    clean = {key: value for key, value in os.environ.items() if key not in ("PORT", "OPSGOV_BASE_URL")}
    dry = subprocess.run(
        ["make", "-n", "run", "PORT=9123"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )
    assert "links and demo checks use http://127.0.0.1:9123" in dry.stdout
    assert "--port 9123" in dry.stdout


@pytest.mark.django_db
def test_the_demo_checks_follow_the_port_opsgov_runs_on(settings: Any) -> None:
    for slug in ("api-gateway", "web-frontend", "payments-ledger", "reporting", "legacy-search"):
        ServiceFactory.create(slug=slug)
    settings.OPSGOV_BASE_URL = "http://127.0.0.1:8000"
    demo_checks.seed(stdout=io.StringIO())
    elsewhere = HttpCheck.objects.get(name="Sign-in page")
    HttpCheck.objects.filter(pk=elsewhere.pk).update(url="https://www.example.com/accounts/login/")

    settings.OPSGOV_BASE_URL = "http://127.0.0.1:9123"  # a later `make run PORT=9123`
    out = io.StringIO()
    demo_checks.seed(stdout=out)  # seed_demo again (make run calls follow_base_url itself)
    assert "now probe http://127.0.0.1:9123 (2 moved)" in out.getvalue()
    assert dict(HttpCheck.objects.values_list("name", "url")) == {
        "opsgov /healthz": "http://127.0.0.1:9123/healthz",
        "opsgov /readyz": "http://127.0.0.1:9123/readyz",
        "Sign-in page": "https://www.example.com/accounts/login/",  # pointed elsewhere by someone: kept
    }
    assert demo_checks.follow_base_url() == 0
