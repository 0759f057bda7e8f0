"""opsgov's own SBOM, made by the real `cyclonedx-py environment`, imports as an asset inventory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import django
import pytest

from security import services
from security.models import Component, Finding
from security.selectors import services_running
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def _sbom() -> dict[str, Any]:
    tool = Path(sys.executable).parent / "cyclonedx-py"
    completed = subprocess.run(
        [str(tool), "environment", sys.executable, "--of", "JSON", "--sv", "1.6"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return json.loads(completed.stdout)


def test_opsgov_sbom_is_the_asset_inventory_and_answers_which_services_run_a_version() -> None:
    service = ServiceFactory.create(slug="opsgov")
    bom = _sbom()
    result = services.import_scan(report=bom, asset_name="opsgov", create_asset=True, service=service)
    assert result.scan.format == "cyclonedx"
    assert result.scan.scopes == []  # an inventory alone covers no vulnerability scope
    assert result.scan.components == len(bom["components"])
    django_row = Component.objects.get(asset__name="opsgov", name__iexact="django")
    assert django_row.version == django.__version__
    assert django_row.purl.startswith(f"pkg:pypi/django@{django.__version__}")
    assert [(a.name, a.service) for a in services_running(name="django", version=django.__version__)] == [
        ("opsgov", service)
    ]
    assert not services_running(name="django", version="4.2.10").exists()
    assert not Finding.objects.exists()
    # The next SBOM replaces the inventory.
    bom["components"] = [c for c in bom["components"] if c["name"].lower() != "django"]
    services.import_scan(report=bom, asset_name="opsgov")
    assert not services_running(name="django").exists()
