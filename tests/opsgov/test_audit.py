"""The audit trail: every change of a governance record, through the API or the admin, is recorded."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from opsgov.models import Service
from opsgov.roles import COMPLIANCE_OFFICER, SRE_LEAD

from ..factories import ServiceFactory, TeamFactory

pytestmark = pytest.mark.django_db


def entries_for(obj: object) -> list[LogEntry]:
    return list(LogEntry.objects.get_for_object(obj).order_by("timestamp", "pk"))


def test_an_api_update_records_actor_and_before_after(
    make_user: Callable[..., User], client_for: Callable[[User], APIClient]
) -> None:
    sre = make_user("sre", SRE_LEAD)
    service = ServiceFactory.create(slug="checkout", tier=2)
    response = client_for(sre).patch("/api/v1/services/checkout/", {"tier": 1}, format="json")
    assert response.status_code == 200
    update = entries_for(service)[-1]
    assert update.action == LogEntry.Action.UPDATE
    assert update.actor == sre
    assert update.changes_dict["tier"] == ["2", "1"]


def test_an_api_create_and_delete_are_recorded(
    make_user: Callable[..., User], client_for: Callable[[User], APIClient]
) -> None:
    sre = make_user("sre", SRE_LEAD)
    client = client_for(sre)
    TeamFactory.create(slug="platform")
    assert client.post("/api/v1/services/", {"slug": "x", "name": "X", "owner_team": "platform"}).status_code == 201
    service_id = Service.objects.get(slug="x").pk
    assert client.delete("/api/v1/services/x/").status_code == 204
    actions = list(
        LogEntry.objects.filter(content_type__model="service", object_pk=str(service_id))
        .order_by("timestamp")
        .values_list("action", "actor__username")
    )
    assert actions == [(LogEntry.Action.CREATE, "sre"), (LogEntry.Action.DELETE, "sre")]


def test_an_admin_update_is_recorded_with_its_actor(client: Client) -> None:
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    service = ServiceFactory.create(slug="ledger", name="Ledger", tier=3)
    client.force_login(admin)
    response = client.post(
        f"/admin/opsgov/service/{service.pk}/change/",
        {
            "slug": "ledger",
            "name": "Payments ledger",
            "tier": "1",
            "owner_team": service.owner_team.pk,
            "lifecycle": "active",
            "description": "",
            "links": "[]",
        },
    )
    assert response.status_code == 302, response.content[:500]
    update = entries_for(service)[-1]
    assert update.actor == admin
    assert update.changes_dict["name"] == ["Ledger", "Payments ledger"]
    assert update.changes_dict["tier"] == ["3", "1"]


def test_compliance_officers_export_the_audit_trail_as_csv(make_user: Callable[..., User], client: Client) -> None:
    officer = make_user("officer", COMPLIANCE_OFFICER, is_staff=True)
    service = ServiceFactory.create(slug="auth", name="Auth")
    service.name = "Authentication"
    service.save()
    client.force_login(officer)
    assert client.get("/admin/auditlog/logentry/").status_code == 200
    response = client.get("/admin/auditlog/logentry/export.csv?q=Authentication")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.getvalue().decode())))
    name_change = [row for row in rows if row["field"] == "name"]
    assert name_change == [
        {
            **name_change[0],
            "action": "update",
            "object_type": "opsgov.service",
            "before": "Auth",
            "after": "Authentication",
        }
    ]


def test_the_audit_trail_is_read_only_in_the_admin(make_user: Callable[..., User], client: Client) -> None:
    officer = make_user("officer", COMPLIANCE_OFFICER, is_staff=True)
    ServiceFactory.create()
    entry = LogEntry.objects.first()
    assert entry is not None
    client.force_login(officer)
    assert client.get(f"/admin/auditlog/logentry/{entry.pk}/change/").status_code == 200
    assert client.post(f"/admin/auditlog/logentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert LogEntry.objects.filter(pk=entry.pk).exists()


def test_people_without_the_audit_permission_cannot_export(make_user: Callable[..., User], client: Client) -> None:
    client.force_login(make_user("staffer", is_staff=True))
    assert client.get("/admin/auditlog/logentry/export.csv").status_code == 403
