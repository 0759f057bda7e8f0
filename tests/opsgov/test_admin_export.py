"""The admin's shared CSV export (opsgov.admin_export): columns, cells, streaming, who may use it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import RequestFactory

from opsgov.admin_export import CsvExportMixin, ReadOnlyCsvAdmin, csv_cell
from opsgov.models import Team

pytestmark = pytest.mark.django_db


class TeamExport(ReadOnlyCsvAdmin):
    list_display = ("slug", "name", "email", "created_at", "missing_column")


def _rows(response: Any) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_the_selected_rows_stream_in_the_list_columns_with_iso_instants_and_empty_cells() -> None:
    moment = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    Team.objects.create(slug="b-team", name="B, the second", email="", created_at=moment)
    Team.objects.create(slug="a-team", name="A", email="a@example.com", created_at=moment)
    model_admin = TeamExport(Team, admin.site)
    request = RequestFactory().get("/")
    response = model_admin.export_csv(request, Team.objects.order_by("slug"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="opsgov-team.csv"'
    assert _rows(response) == [
        ["slug", "name", "email", "created_at", "missing_column"],
        ["a-team", "A", "a@example.com", "2026-12-01T09:30:00+00:00", ""],
        ["b-team", "B, the second", "", "2026-12-01T09:30:00+00:00", ""],
    ]


def test_csv_fields_name_the_columns_and_the_admin_is_read_only() -> None:
    class Narrow(TeamExport):
        csv_fields = ("name",)

    Team.objects.create(slug="ops", name="Ops")
    model_admin = Narrow(Team, admin.site)
    request = RequestFactory().get("/")
    request.user = User(is_superuser=True, is_active=True, is_staff=True)
    assert _rows(model_admin.export_csv(request, Team.objects.all())) == [["name"], ["Ops"]]
    assert model_admin.has_add_permission(request) is False
    assert model_admin.has_change_permission(request) is False
    assert model_admin.has_delete_permission(request) is False
    assert "export_csv" in model_admin.get_actions(request)


def test_cells() -> None:
    assert [csv_cell(None), csv_cell(3), csv_cell(False), csv_cell(datetime(2026, 1, 2).date())] == [
        "",
        "3",
        "False",
        "2026-01-02",
    ]


def test_every_app_admin_with_an_export_uses_the_shared_one() -> None:
    registered = [admin.site.get_model_admin(model) for model in apps.get_models() if admin.site.is_registered(model)]
    exporting = [model_admin for model_admin in registered if hasattr(model_admin, "export_csv")]
    assert {type(model_admin).__module__.split(".")[0] for model_admin in exporting} >= {
        "backups",
        "compliance",
        "maintenance",
        "security",
        "support",
    }
    assert all(isinstance(model_admin, CsvExportMixin) for model_admin in exporting)
