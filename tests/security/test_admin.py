"""Admin: read-only evidence with CSV export; findings are never deleted."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import ProtectedError
from django.test import Client

from security import services
from security.models import Finding

from .support import fixture

pytestmark = pytest.mark.django_db


def test_admin_lists_and_csv_export(admin_user: Any) -> None:
    services.import_scan(report=fixture("trivy-image-v2.json"), asset_name="img", create_asset=True)
    client = Client()
    client.force_login(admin_user)
    for model in ("asset", "assetmappingrule", "scan", "finding", "riskacceptance", "component"):
        assert client.get(f"/admin/security/{model}/").status_code == 200, model
    pks = [str(pk) for pk in Finding.objects.values_list("pk", flat=True)]
    response = client.post("/admin/security/finding/", {"action": "export_csv", "_selected_action": pks})
    assert response.status_code == 200
    lines = response.getvalue().decode().splitlines()
    assert lines[0].startswith("vulnerability_id,package_name,package_version,asset,severity")
    assert len(lines) == 5
    assert client.get(f"/admin/security/finding/{pks[0]}/delete/").status_code == 403


def test_findings_are_evidence() -> None:
    services.import_scan(report=fixture("grype.json"), asset_name="img", create_asset=True)
    with pytest.raises(ProtectedError):
        Finding.objects.first().delete()  # type: ignore[union-attr]
