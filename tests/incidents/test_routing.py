"""Routing by label: one integration, several services; unknown values go to the default and are listed."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from rest_framework.test import APIClient

from incidents import services
from incidents.ingest import routing
from incidents.models import Incident, IncidentStatus, Integration, TimelineKind, UnknownRoutingValue
from opsgov import services as core_services
from opsgov.events import ServiceAlert, raise_alert
from opsgov.models import Service
from opsgov.roles import SRE_LEAD

from ..factories import ServiceFactory
from .test_ingest_support import alertmanager_url, pagerduty_url, payload, post, process_pending

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def world() -> dict[str, Service]:
    return {
        "checkout": ServiceFactory.create(slug="checkout", name="Checkout"),
        "auth": ServiceFactory.create(slug="auth", name="Auth"),
        "payments": ServiceFactory.create(slug="payments", name="Payments", aliases=["pay", "billing-api"]),
    }


def integration(kind: str, world: dict[str, Service], **extra: Any) -> tuple[Integration, str]:
    """An integration whose default service is checkout."""
    return services.integration_create(name=f"shared {kind}", kind=kind, service=world["checkout"], **extra)


def group(*services_and_fingerprints: tuple[str | None, str], status: str = "firing") -> dict[str, Any]:
    """The Alertmanager fixture's group with one alert per (service label, fingerprint)."""
    data = payload("alertmanager-v4-firing" if status == "firing" else "alertmanager-v4-resolved")
    template = data["alerts"][0]
    data["alerts"] = []
    for service, fingerprint in services_and_fingerprints:
        labels = {**template["labels"]}
        if service is not None:
            labels["service"] = service
        data["alerts"].append({**template, "labels": labels, "fingerprint": fingerprint})
    return data


def send(url: str, data: dict[str, Any]) -> None:
    response = post(url, data)
    assert response.status_code == 202, response.content


def fingerprints(incident: Incident) -> set[str]:
    return set(incident.timeline.filter(kind=TimelineKind.SIGNAL).values_list("data__fingerprint", flat=True))


def routing_notes(incident: Incident) -> list[str]:
    return list(incident.timeline.filter(kind=TimelineKind.NOTE).values_list("message", flat=True))


# --- Alertmanager ---------------------------------------------------------------------------


def test_one_group_spanning_two_services_opens_one_incident_per_service_and_resolves_both(
    world: dict[str, Service], clock: time_machine.Traveller
) -> None:
    shared, token = integration("alertmanager", world)
    send(alertmanager_url(token), group(("auth", "fa1"), ("checkout", "fc1"), ("auth", "fa2")))
    process_pending()
    auth = Incident.objects.get(service=world["auth"])
    checkout = Incident.objects.get(service=world["checkout"])
    assert Incident.objects.count() == 2
    assert (auth.integration, auth.dedup_key) == (checkout.integration, checkout.dedup_key) == (shared, auth.dedup_key)
    assert fingerprints(auth) == {"fa1", "fa2"} and fingerprints(checkout) == {"fc1"}
    assert routing_notes(auth) == routing_notes(checkout) == []  # both values named a service

    # A repeat adds nothing; the resolved group resolves each service's incident.
    send(alertmanager_url(token), group(("auth", "fa1"), ("checkout", "fc1"), ("auth", "fa2")))
    clock.move_to(NOW + timedelta(minutes=7))
    send(alertmanager_url(token), group(("auth", "fa1"), ("checkout", "fc1"), ("auth", "fa2"), status="resolved"))
    process_pending()
    assert Incident.objects.count() == 2
    for incident in (auth, checkout):
        incident.refresh_from_db()
        assert (incident.status, incident.resolved_at) == (IncidentStatus.RESOLVED, NOW + timedelta(minutes=7))
    assert not UnknownRoutingValue.objects.exists()


def test_a_service_whose_alerts_all_resolve_in_a_firing_group_resolves_alone(world: dict[str, Service]) -> None:
    _, token = integration("alertmanager", world)
    send(alertmanager_url(token), group(("auth", "fa1"), ("checkout", "fc1")))
    data = group(("auth", "fa1"), ("checkout", "fc1"))
    data["alerts"][0]["status"] = "resolved"
    data["alerts"][0]["endsAt"] = "2026-11-20T10:59:00Z"
    send(alertmanager_url(token), data)  # the group still fires (checkout), auth's alert has cleared
    process_pending()
    assert Incident.objects.get(service=world["auth"]).status == IncidentStatus.RESOLVED
    assert Incident.objects.get(service=world["checkout"]).status == IncidentStatus.TRIGGERED


def test_an_alias_routes_to_its_service(world: dict[str, Service]) -> None:
    _, token = integration("alertmanager", world)
    send(alertmanager_url(token), group(("pay", "fp1")))
    process_pending()
    incident = Incident.objects.get()
    assert incident.service == world["payments"]
    assert routing_notes(incident) == []


def test_a_custom_label_routes_and_the_service_label_is_then_ignored(world: dict[str, Service]) -> None:
    _, token = integration("alertmanager", world, routing_label="team_service")
    data = group(("auth", "f1"))
    data["alerts"][0]["labels"]["team_service"] = "billing-api"
    send(alertmanager_url(token), data)
    process_pending()
    assert Incident.objects.get().service == world["payments"]


def test_an_unknown_value_goes_to_the_default_with_a_note_and_is_counted(
    world: dict[str, Service], sre: APIClient, make_user: Callable[..., User], clock: time_machine.Traveller
) -> None:
    shared, token = integration("alertmanager", world)
    send(alertmanager_url(token), group(("search", "fs1"), ("search", "fs2")))  # one event, one value
    clock.move_to(NOW + timedelta(minutes=1))
    send(alertmanager_url(token), group(("search", "fs1"), ("search", "fs2"), ("ledger", "fl1")))
    clock.move_to(NOW + timedelta(days=1))
    send(alertmanager_url(token), group(("search", "fs1"), ("search", "fs2"), ("ledger", "fl1")))
    process_pending()

    incident = Incident.objects.get()  # both unknown values fell back to checkout, the same group
    assert incident.service == world["checkout"]
    assert fingerprints(incident) == {"fs1", "fs2", "fl1"}
    assert routing_notes(incident) == [
        "Routed to Checkout (checkout), the default service of shared alertmanager: "
        "service='search' names no service or alias.",
        "Routed to Checkout (checkout), the default service of shared alertmanager: "
        "service='ledger' names no service or alias.",
    ]  # once per value, however often it comes

    # Counted per event and value: search 3, ledger 2, over two UTC days.
    assert sorted(UnknownRoutingValue.objects.values_list("day", "value", "count")) == [
        (date(2026, 11, 20), "ledger", 1),
        (date(2026, 11, 20), "search", 2),
        (date(2026, 11, 21), "ledger", 1),
        (date(2026, 11, 21), "search", 1),
    ]
    expected = [
        {"value": "search", "count": 3, "last_seen_at": "2026-11-21T11:00:00Z"},
        {"value": "ledger", "count": 2, "last_seen_at": "2026-11-21T11:00:00Z"},
    ]
    detail = sre.get(f"/api/v1/integrations/{shared.uuid}/")
    assert detail.status_code == 200
    assert detail.json()["unknown_routing_values"] == expected
    assert detail.json()["routing_label"] == "service"
    listed = sre.get("/api/v1/integrations/").json()["results"]
    assert [row["unknown_routing_values"] for row in listed] == [expected]

    page = Client()
    page.force_login(make_user("sre-page", SRE_LEAD))
    html = page.get(f"/incidents/integrations/{shared.uuid}/").content.decode()
    assert "<code>search</code></td>\n          <td>3</td>" in html
    assert "<code>ledger</code></td>\n          <td>2</td>" in html
    assert f'href="/incidents/integrations/{shared.uuid}/"' in page.get("/incidents/integrations/").content.decode()

    # Seven days later the first day is no longer shown.
    clock.move_to(NOW + timedelta(days=7))
    assert sre.get(f"/api/v1/integrations/{shared.uuid}/").json()["unknown_routing_values"] == [
        {"value": "ledger", "count": 1, "last_seen_at": "2026-11-21T11:00:00Z"},
        {"value": "search", "count": 1, "last_seen_at": "2026-11-21T11:00:00Z"},
    ]


def test_a_missing_label_goes_to_the_default_with_a_note_and_is_not_counted(world: dict[str, Service]) -> None:
    _, token = integration("alertmanager", world)
    send(alertmanager_url(token), group((None, "f1")))
    process_pending()
    incident = Incident.objects.get()
    assert incident.service == world["checkout"]
    assert routing_notes(incident) == [
        "Routed to Checkout (checkout), the default service of shared alertmanager: "
        "the alert has no service to route by."
    ]
    assert not UnknownRoutingValue.objects.exists()


def test_unknown_values_are_bounded_per_day_and_old_days_are_pruned(
    world: dict[str, Service], monkeypatch: pytest.MonkeyPatch, clock: time_machine.Traveller
) -> None:
    monkeypatch.setattr(routing, "MAX_VALUES_PER_DAY", 2)
    _, token = integration("alertmanager", world)
    send(alertmanager_url(token), group(("a", "f1"), ("b", "f2"), ("c", "f3"), ("d", "f4")))
    process_pending()
    assert sorted(UnknownRoutingValue.objects.values_list("value", "count")) == [
        (routing.OTHER_VALUES, 2),  # c and d: the day already had 2 distinct values
        ("a", 1),
        ("b", 1),
    ]
    clock.move_to(NOW + timedelta(days=routing.KEEP_DAYS + 1))
    send(alertmanager_url(token), group(("e", "f5")))
    process_pending()
    assert list(UnknownRoutingValue.objects.values_list("value", flat=True)) == ["e"]


# --- Events v2 ------------------------------------------------------------------------------


def test_events_v2_routes_by_payload_component_by_default(world: dict[str, Service]) -> None:
    _, token = integration("pagerduty", world)
    data = payload("pagerduty-v2-trigger")
    data["payload"]["component"] = "auth"
    send(pagerduty_url(token), data)
    process_pending()
    assert Incident.objects.get().service == world["auth"]


def test_events_v2_routes_by_a_custom_details_key(world: dict[str, Service]) -> None:
    _, token = integration("generic", world, routing_label="custom_details.service")
    first = payload("pagerduty-v2-trigger")
    first["payload"]["custom_details"] = {"service": "pay"}  # an alias of payments
    send(pagerduty_url(token), first)
    second = payload("pagerduty-v2-trigger")
    second["dedup_key"] = "other"
    second["payload"]["custom_details"] = {"service": "nope"}
    send(pagerduty_url(token), second)
    process_pending()
    assert Incident.objects.get(dedup_key="checkout/db-connection-pool").service == world["payments"]
    fallback = Incident.objects.get(dedup_key="other")
    assert fallback.service == world["checkout"]
    assert "custom_details.service='nope' names no service or alias" in routing_notes(fallback)[0]
    assert list(UnknownRoutingValue.objects.values_list("value", "count")) == [("nope", 1)]


def test_an_events_v2_key_routed_to_two_services_is_resolved_on_both(world: dict[str, Service]) -> None:
    _, token = integration("pagerduty", world)
    for component in ("auth", "checkout"):
        data = payload("pagerduty-v2-trigger")
        data["payload"]["component"] = component
        send(pagerduty_url(token), data)
    send(pagerduty_url(token), payload("pagerduty-v2-acknowledge"))
    send(pagerduty_url(token), payload("pagerduty-v2-resolve"))
    process_pending()
    assert sorted(Incident.objects.values_list("service__slug", "status")) == [
        ("auth", IncidentStatus.RESOLVED),
        ("checkout", IncidentStatus.RESOLVED),
    ]
    assert Incident.objects.filter(acknowledged_at=NOW).count() == 2


def test_internal_alerts_keep_routing_to_their_own_service(world: dict[str, Service]) -> None:
    alert = ServiceAlert(
        service_id=world["auth"].pk,
        key="slo:auth-availability:page-fast",
        status="firing",
        severity="SEV-2",
        title="Auth availability burns its budget",
        at=NOW,
        source="slo",
        details={"service": "checkout", "component": "checkout"},
    )
    raise_alert(alert)
    process_pending()
    incident = Incident.objects.get()
    assert incident.service == world["auth"]
    assert routing_notes(incident) == []
    assert incident.integration is not None and incident.integration.routing_label == ""


# --- Configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "label", "accepted"),
    [
        ("alertmanager", "service", True),
        ("alertmanager", "k8s_namespace", True),
        ("alertmanager", "payload.component", False),
        ("alertmanager", "1service", False),
        ("pagerduty", "payload.component", True),
        ("generic", "custom_details.service", True),
        ("pagerduty", "custom_details.", False),
        ("pagerduty", "service", False),
        ("generic", "payload.source", False),
    ],
)
def test_the_routing_label_is_validated_per_kind(
    world: dict[str, Service], sre: APIClient, kind: str, label: str, accepted: bool
) -> None:
    response = sre.post(
        "/api/v1/integrations/",
        {"name": "x", "kind": kind, "service": "checkout", "routing_label": label},
        format="json",
    )
    if accepted:
        assert response.status_code == 201, response.json()
        assert response.json()["routing_label"] == label
    else:
        assert response.status_code == 400
        assert [error["field"] for error in response.json()["errors"]] == ["routing_label"]


def test_the_default_routing_label_follows_the_kind(world: dict[str, Service]) -> None:
    assert integration("alertmanager", world)[0].routing_label == "service"
    assert integration("pagerduty", world)[0].routing_label == "payload.component"


def test_create_integration_takes_a_routing_label(world: dict[str, Service]) -> None:
    out = io.StringIO()
    call_command(
        "create_integration",
        "--kind",
        "generic",
        "--service",
        "checkout",
        "--routing-label",
        "custom_details.service",
        stdout=out,
    )
    assert Integration.objects.get().routing_label == "custom_details.service"
    assert "Routing: by 'custom_details.service'" in out.getvalue()
    with pytest.raises(CommandError, match="routing_label"):
        call_command("create_integration", "--kind", "alertmanager", "--service", "checkout", "--routing-label", "a.b")


def test_aliases_are_unique_across_services_and_never_another_slug(world: dict[str, Service], sre: APIClient) -> None:
    auth = world["auth"]
    for aliases, message in (
        (["checkout"], "'checkout': the slug of another service."),
        (["pay"], "'pay': already an alias of service 'payments'."),
        (["auth"], "'auth' is this service's slug already."),
        (["Not a slug!"], "aliases[0]: 'Not a slug!' is not a slug"),
        (["a", "a"], "aliases[1]: 'a' is listed twice."),
    ):
        with pytest.raises(ValidationError) as caught:
            core_services.service_update(service=auth, data={"aliases": aliases})
        assert message in str(caught.value.message_dict["aliases"])
    with pytest.raises(ValidationError) as caught:
        core_services.service_create(slug="billing-api", name="Billing", owner_team=auth.owner_team)
    assert "'billing-api' is an alias of service 'payments'." in str(caught.value.message_dict["slug"])

    response = sre.patch("/api/v1/services/auth/", {"aliases": ["login", "sso"]}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["aliases"] == ["login", "sso"]
    refused = sre.patch("/api/v1/services/auth/", {"aliases": ["pay"]}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {"field": "aliases", "message": "'pay': already an alias of service 'payments'."}
    ]
