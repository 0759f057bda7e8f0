"""SLO API and SLI push intake: personas, validation with field paths, idempotence, OpenAPI."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from incidents.models import ActionItem, Incident, IncidentStatus
from monitoring.models import SLO, SLIBucket, SLOAlertState, SLOStatus
from monitoring.slos import engine
from tests.factories import ServiceFactory, TeamFactory, UserFactory
from tests.incidents.test_ingest_support import process_pending

from .support import make_slo, series

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 11, 0, 30, tzinfo=UTC)
LIST = "/api/v1/slos/"


@pytest.fixture(autouse=True)
def clock() -> Any:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def detail(slo: SLO) -> str:
    return f"/api/v1/slos/{slo.uuid}/"


def push_url(slo: SLO) -> str:
    return f"/api/v1/slos/{slo.uuid}/sli/"


def errors(response: Any) -> dict[str, str]:
    assert response.status_code == 400, response.content
    return {row["field"]: row["message"] for row in response.json()["errors"]}


def new_slo_body(service_slug: str, **extra: Any) -> dict[str, Any]:
    return {"service": service_slug, "name": "Checkout availability", "objective_percent": "99.9", **extra}


# --- Who may do what -----------------------------------------------------------------------------------


def test_anonymous_requests_are_401(api_client: APIClient) -> None:
    slo = make_slo()
    assert api_client.get(LIST).status_code == 401
    assert api_client.post(push_url(slo), {"buckets": []}, format="json").status_code == 401


def test_an_outsider_is_403_and_every_role_reads(client_for: Callable[[User], APIClient], personas) -> None:
    make_slo()
    assert client_for(personas["outsider"]).get(LIST).status_code == 403
    for role in ("Tech Lead", "Compliance Officer", "Support Team", "Product Owner", "Security Lead"):
        response = client_for(personas[role]).get(LIST)
        assert response.status_code == 200, role
        assert response.json()["count"] == 1


@pytest.mark.parametrize("role", ["SRE Lead", "DevOps Lead"])
def test_sre_and_devops_leads_write_slos(client_for, personas, role: str) -> None:
    service = ServiceFactory.create(slug="checkout")
    client = client_for(personas[role])
    created = client.post(LIST, new_slo_body("checkout"), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["service"], body["team"], body["objective_percent"], body["status"]) == (
        "checkout",
        service.owner_team.slug,
        "99.900",
        None,
    )
    slo = SLO.objects.get(uuid=body["uuid"])
    changed = client.patch(detail(slo), {"objective_percent": "99.5", "window_days": 28}, format="json")
    assert changed.status_code == 200
    slo.refresh_from_db()
    assert (slo.objective_percent, slo.window_days) == (Decimal("99.5"), 28)
    assert client.delete(detail(slo)).status_code == 204
    assert not SLO.objects.exists()


@pytest.mark.parametrize("role", ["Tech Lead", "Compliance Officer", "Product Owner"])
def test_other_roles_cannot_write_slos(client_for, personas, role: str) -> None:
    ServiceFactory.create(slug="checkout")
    slo = make_slo()
    client = client_for(personas[role])
    assert client.post(LIST, new_slo_body("checkout"), format="json").status_code == 403
    assert client.patch(detail(slo), {"enabled": False}, format="json").status_code == 403
    assert client.delete(detail(slo)).status_code == 403
    assert client.post(push_url(slo), {"buckets": []}, format="json").status_code == 403


def test_an_integration_account_with_only_the_push_permission_pushes_and_reads_nothing(client_for) -> None:
    slo = make_slo()
    account = UserFactory.create(username="prometheus-bridge")
    account.user_permissions.add(Permission.objects.get(codename="add_slibucket", content_type__app_label="monitoring"))
    client = client_for(account)
    response = client.post(
        push_url(slo),
        {"buckets": [{"start": "2026-11-20T10:58:00Z", "good": 998, "total": 1000}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"slo": str(slo.uuid), "written": 1, "last_sli_at": "2026-11-20T10:59:00Z"}
    assert client.get(LIST).status_code == 403


# --- SLO validation ------------------------------------------------------------------------------------


def test_bad_slos_are_400_naming_the_field(client_for, personas) -> None:
    ServiceFactory.create(slug="checkout")
    client = client_for(personas["SRE Lead"])
    assert set(errors(client.post(LIST, new_slo_body("checkout", objective_percent="100"), format="json"))) == {
        "objective_percent"
    }
    assert set(errors(client.post(LIST, new_slo_body("checkout", window_days=29), format="json"))) == {"window_days"}
    assert set(errors(client.post(LIST, new_slo_body("checkout", sli_kind="latency"), format="json"))) == {
        "latency_threshold_ms"
    }
    assert set(errors(client.post(LIST, new_slo_body("checkout", source="prometheus"), format="json"))) == {
        "good_query",
        "total_query",
    }
    assert set(errors(client.post(LIST, new_slo_body("nowhere"), format="json"))) == {"service"}


def test_names_are_unique_per_service_and_one_availability_slo_per_service(client_for, personas) -> None:
    ServiceFactory.create(slug="checkout")
    client = client_for(personas["SRE Lead"])
    assert client.post(LIST, new_slo_body("checkout", is_availability=True), format="json").status_code == 201
    assert errors(client.post(LIST, new_slo_body("checkout"), format="json")) == {
        "name": "This service already has an SLO with this name."
    }
    assert set(
        errors(client.post(LIST, new_slo_body("checkout", name="Other", is_availability=True), format="json"))
    ) == {"is_availability"}


# --- Lists ---------------------------------------------------------------------------------------------


def test_the_list_filters_by_service_team_text_and_enabled(client_for, personas) -> None:
    payments = TeamFactory.create(slug="payments")
    checkout = ServiceFactory.create(slug="checkout", name="Checkout", owner_team=payments)
    search = ServiceFactory.create(slug="search", name="Search")
    a = make_slo(checkout, name="Checkout availability")
    b = make_slo(checkout, name="Checkout latency", sli_kind="latency", latency_threshold_ms=300, enabled=False)
    c = make_slo(search, name="Search availability")
    client = client_for(personas["Tech Lead"])

    def uuids(query: str) -> set[str]:
        response = client.get(f"{LIST}?{query}")
        assert response.status_code == 200, response.content
        return {row["uuid"] for row in response.json()["results"]}

    assert uuids("service=checkout") == {str(a.uuid), str(b.uuid)}
    assert uuids("team=payments") == {str(a.uuid), str(b.uuid)}
    assert uuids("q=latency") == {str(b.uuid)}
    assert uuids("q=search") == {str(c.uuid)}, "q also matches the service"
    assert uuids("enabled=false") == {str(b.uuid)}
    assert uuids("service=checkout&enabled=true") == {str(a.uuid)}
    assert set(errors(client.get(f"{LIST}?service=nowhere"))) == {"service"}


def test_the_list_shows_each_slos_status_in_a_fixed_number_of_queries(
    client_for, personas, django_assert_max_num_queries
) -> None:
    client = client_for(personas["Tech Lead"])
    for index in range(6):
        slo = make_slo(name=f"SLO {index}", objective_percent=Decimal("99"))
        series(slo, NOW - timedelta(hours=2), 1, good=95, total=100, now=NOW)
    engine.evaluate_slos(now=NOW)
    # Knox's token lookup (2) + the page: count (1) and rows with service, team and status (1) + slack.
    with django_assert_max_num_queries(6):
        response = client.get(LIST)
    rows = response.json()["results"]
    assert len(rows) == 6
    status = rows[0]["status"]
    # 5 bad of 100 at 99 %: allowed 1 -> consumed 5, remaining -4.
    assert (status["good"], status["total"], status["budget_remaining"], status["sli_percent"]) == (95, 100, -4.0, 95.0)
    # The bucket (09:00:30) lies in the 6h, 1d and 3d windows only: burn 5x there, no traffic in 5m..1h.
    assert status["burn_rates"] == {"5m": None, "30m": None, "1h": None, "6h": 5.0, "1d": 5.0, "3d": 5.0}
    assert status["firing"] == ["ticket"], "1x over 3d and 6h"


# --- SLI push ------------------------------------------------------------------------------------------


def test_a_push_writes_every_bucket_and_sending_it_again_replaces_them(client_for, personas) -> None:
    slo = make_slo()
    client = client_for(personas["SRE Lead"])
    body = {
        "buckets": [
            {"start": "2026-11-20T10:00:00Z", "seconds": 60, "good": 990, "total": 1000},
            {"start": "2026-11-20T11:01:00+01:00", "good": 1000, "total": 1000},  # 10:01 UTC
        ]
    }
    first = client.post(push_url(slo), body, format="json")
    assert first.status_code == 200
    assert first.json()["written"] == 2
    body["buckets"][0]["good"] = 995
    assert client.post(push_url(slo), body, format="json").json()["written"] == 2
    assert list(SLIBucket.objects.order_by("start").values_list("start", "good", "total")) == [
        (datetime(2026, 11, 20, 10, 0, tzinfo=UTC), 995, 1000),
        (datetime(2026, 11, 20, 10, 1, tzinfo=UTC), 1000, 1000),
    ]


def test_a_bad_bucket_rejects_the_batch_with_its_path(client_for, personas) -> None:
    slo = make_slo()
    client = client_for(personas["SRE Lead"])
    buckets = [{"start": f"2026-11-20T10:0{index}:00Z", "good": 10, "total": 10} for index in range(5)]
    buckets[3]["good"] = 11
    assert errors(client.post(push_url(slo), {"buckets": buckets}, format="json")) == {
        "buckets[3].total": "Must be at least good."
    }
    buckets[3] = {"start": "2026-11-20T10:03:00", "good": "5", "total": 10.5, "colour": "red"}
    buckets[1]["start"] = "2026-11-20T12:00:00Z"  # in the future
    found = errors(client.post(push_url(slo), {"buckets": buckets}, format="json"))
    assert set(found) == {
        "buckets[3].start",
        "buckets[3].good",
        "buckets[3].total",
        "buckets[3].colour",
    }, "shape errors first; the future start is checked once the shapes are right"
    buckets[3] = {"start": "2026-11-20T10:03:00Z", "good": 1, "total": 1}
    assert errors(client.post(push_url(slo), {"buckets": buckets}, format="json")) == {
        "buckets[1].start": "Is in the future."
    }
    assert not SLIBucket.objects.exists()


def test_a_push_needs_one_to_ten_thousand_buckets(client_for, personas) -> None:
    slo = make_slo()
    client = client_for(personas["SRE Lead"])
    assert set(errors(client.post(push_url(slo), {"buckets": []}, format="json"))) == {"buckets"}
    assert set(errors(client.post(push_url(slo), {}, format="json"))) == {"buckets"}
    start = NOW - timedelta(days=8)
    many = [{"start": (start + timedelta(minutes=index)).isoformat(), "good": 1, "total": 1} for index in range(10_001)]
    assert set(errors(client.post(push_url(slo), {"buckets": many}, format="json"))) == {"buckets"}
    response = client.post(push_url(slo), {"buckets": many[:10_000]}, format="json")
    assert response.status_code == 200
    assert response.json()["written"] == 10_000


def test_a_push_is_json_only(client_for, personas) -> None:
    slo = make_slo()
    client = client_for(personas["SRE Lead"])
    response = client.post(push_url(slo), {"buckets": "x"})  # multipart form
    assert response.status_code == 415
    malformed = client.post(push_url(slo), data=b'{"buckets": [', content_type="application/json")
    assert malformed.status_code == 400
    assert not SLIBucket.objects.exists()


def test_pull_sourced_slos_refuse_pushed_data(client_for, personas) -> None:
    slo = make_slo(source="prometheus", good_query='requests_total{code!~"5.."}', total_query="requests_total")
    body = {"buckets": [{"start": "2026-11-20T10:00:00Z", "good": 1, "total": 1}]}
    assert set(errors(client_for(personas["SRE Lead"]).post(push_url(slo), body, format="json"))) == {"source"}


# --- Alerts and SLO changes ----------------------------------------------------------------------------


def burning_slo() -> SLO:
    """A 99 % SLO burning at 50x over every window: page-fast fires on the first cycle."""
    slo = make_slo(objective_percent=Decimal("99"))
    series(slo, NOW - timedelta(days=3), 3 * 24, good=50, total=100, seconds=3600, now=NOW)
    series(slo, NOW.replace(second=0) - timedelta(minutes=60), 60, good=50, total=100, now=NOW)
    result = engine.evaluate_slos(now=NOW)
    assert f"slo:{slo.uuid}:page-fast" in result.fired
    process_pending()
    return slo


def test_deleting_a_burning_slo_resolves_its_incidents(client_for, personas) -> None:
    slo = burning_slo()
    # One incident per SLO breach (page-fast and page-slow); the ticket alert is a backlog item, not an incident.
    assert Incident.objects.filter(status=IncidentStatus.TRIGGERED).count() == 1
    assert ActionItem.objects.filter(service=slo.service).count() == 1
    assert client_for(personas["SRE Lead"]).delete(detail(slo)).status_code == 204
    process_pending()
    assert set(Incident.objects.values_list("status", flat=True)) == {IncidentStatus.RESOLVED}


def test_disabling_a_burning_slo_resolves_its_incidents_and_keeps_its_data(client_for, personas) -> None:
    slo = burning_slo()
    response = client_for(personas["DevOps Lead"]).patch(detail(slo), {"enabled": False}, format="json")
    assert response.status_code == 200
    process_pending()
    assert set(Incident.objects.values_list("status", flat=True)) == {IncidentStatus.RESOLVED}
    assert not SLOAlertState.objects.filter(firing=True).exists()
    assert SLIBucket.objects.filter(slo=slo).exists()
    assert engine.evaluate_slos(now=NOW).fired == [], "a disabled SLO is not evaluated"


def test_moving_a_burning_slo_resolves_the_old_services_incidents(client_for, personas) -> None:
    slo = burning_slo()
    old_service = slo.service
    ServiceFactory.create(slug="elsewhere")
    response = client_for(personas["SRE Lead"]).patch(detail(slo), {"service": "elsewhere"}, format="json")
    assert response.status_code == 200
    process_pending()
    assert set(Incident.objects.filter(service=old_service).values_list("status", flat=True)) == {
        IncidentStatus.RESOLVED
    }
    fired = engine.evaluate_slos(now=NOW).fired
    process_pending()
    assert len(fired) == 3
    # One incident per breach on the new service; its ticket alert is a backlog item there.
    assert Incident.objects.filter(service__slug="elsewhere", status=IncidentStatus.TRIGGERED).count() == 1
    assert ActionItem.objects.filter(service__slug="elsewhere").count() == 1


def test_the_detail_shows_the_status_after_an_evaluation(client_for, personas) -> None:
    slo = burning_slo()
    body = client_for(personas["Support Team"]).get(detail(slo)).json()
    assert body["status"]["firing"] == ["page-fast", "page-slow", "ticket"]
    assert body["status"]["burn_rates"]["5m"] == pytest.approx(50.0)
    assert SLOStatus.objects.get(slo=slo).budget_remaining == pytest.approx(-49.0)


def test_the_openapi_schema_documents_the_slo_routes(client_for, personas) -> None:
    schema = client_for(personas["SRE Lead"]).get("/api/v1/schema/?format=json").json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/slos/"])
    assert {"get", "put", "patch", "delete"} <= set(paths["/api/v1/slos/{uuid}/"])
    push = paths["/api/v1/slos/{uuid}/sli/"]["post"]
    assert list(push["requestBody"]["content"]) == ["application/json"]
    assert "buckets" in schema["components"]["schemas"]["SLIPushRequest"]["properties"]
    assert "written" in str(schema["components"]["schemas"]["SLIPushResult"])
