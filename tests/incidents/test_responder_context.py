"""Context for responders (incidents.context): runbooks, descriptions, links, images, client and details.

Alerts go in through the real ingestion endpoints and processing; the same
context is then read on the incident page, in the API detail, in the paging
e-mail (sent to an aiosmtpd SMTP server on loopback, both parts parsed) and in
the webhook (POSTed to a live receiver on loopback).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from incidents import services
from incidents.context import DETAILS_LIMIT, IncidentContext, incident_context, safe_href
from incidents.models import Incident, Integration, Notification, NotificationStatus
from incidents.oncall import tasks as oncall_tasks
from monitoring.catalog.services import import_rule_files
from opsgov.models import Service
from opsgov.registry import RunbookDirectory, runbooks
from opsgov.roles import SRE_LEAD

from ..conftest import Sink
from ..factories import ServiceFactory
from ..monitoring.catalog_helpers import fixture_text, make_runbook
from .test_escalation_support import make_world, webhook_channel, webhook_receiver
from .test_ingest_support import NOW, alertmanager_url, pagerduty_url, payload, post, process_pending

pytestmark = pytest.mark.django_db

BASE_URL = "https://ops.example.com"
FIXTURE_RUNBOOK = "https://runbooks.example.internal/checkout/high-error-rate"
GENERATOR = "http://prometheus.example.internal:9090/graph?g0.expr=job%3Acheckout_errors%3Aratio5m+%3E+0.05"


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _base_url(settings: Any) -> None:
    settings.OPSGOV_BASE_URL = BASE_URL + "/"


def integration_for(service: Service, kind: str = "alertmanager") -> tuple[Integration, str]:
    return services.integration_create(name=f"{kind} for {service.slug}", kind=kind, service=service)


def ingest(kind: str, data: dict[str, Any], service: Service | None = None) -> Incident:
    """Send `data` to a new integration of `kind` for `service` (checkout by default) and process it."""
    service = service or ServiceFactory.create(slug="checkout", name="Checkout")
    integration, token = integration_for(service, kind)
    url = alertmanager_url(token) if kind == "alertmanager" else pagerduty_url(token)
    assert post(url, data).status_code == 202
    assert process_pending() >= 1
    return Incident.objects.get(integration=integration)


def alert(name: str, fingerprint: str, **annotations: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": name, "severity": "critical"},
        "annotations": annotations,
        "startsAt": "2026-11-20T10:15:30Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus.example.internal:9090/graph?alert={name}",
        "fingerprint": fingerprint,
    }


def webhook(*alerts: dict[str, Any], group: str = "g1", **common: str) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": group,
        "status": "firing",
        "receiver": "opsgov",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": common,
        "externalURL": "http://alertmanager.example.internal:9093",
        "alerts": list(alerts),
    }


def events_v2_trigger() -> dict[str, Any]:
    data = payload("pagerduty-v2-trigger")
    data["links"].append({"href": "https://grafana.example.internal/d/pool", "text": "Pool dashboard"})
    data["links"].append({"href": "data:text/html,<script>alert(1)</script>", "text": "Sneaky"})
    data["images"] = [
        {"src": "https://grafana.example.internal/render/pool.png", "href": "https://grafana.example.internal/d/pool2"},
        {"src": "//evil.example/track.png", "alt": "tracker"},
    ]
    data["payload"]["custom_details"] = {"pool_size": 50, "waiting": 213, "note": "<script>alert(1)</script>"}
    return data


@pytest.fixture
def signed_in(client: Client, make_user: Callable[..., User]) -> Client:
    client.force_login(make_user("sre", SRE_LEAD))
    return client


def page(client: Client, incident: Incident) -> str:
    response = client.get(f"/incidents/{incident.pk}/")
    assert response.status_code == 200
    return response.content.decode()


# --- Links: what may be clicked -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://runbooks.example.internal/a",
        "http://prometheus:9090/graph?g0.expr=up",
        "HTTPS://Example.com/",
    ],
)
def test_an_absolute_http_link_is_clickable(url: str) -> None:
    assert safe_href(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<b>x</b>",
        "//evil.example/x",
        "/monitoring/runbooks/x/",
        "runbooks/x",
        "https:evil.example",
        " https://example.com/",
        "https://exa mple.com/",
        "java\tscript:alert(1)",
        "https:\\\\evil.example",
        "ftp://files.example/x",
        "",
    ],
)
def test_anything_else_is_text_only(url: str) -> None:
    assert safe_href(url) is None


# --- Alertmanager ---------------------------------------------------------------------------------


def test_the_page_shows_the_runbook_as_a_link_and_each_description(signed_in: Client) -> None:
    # The fixture has runbook_url only in commonAnnotations: read from the stored webhook.
    incident = ingest("alertmanager", payload("alertmanager-v4-firing"))
    body = page(signed_in, incident)

    assert "Context for responders" in body
    assert f'<a href="{FIXTURE_RUNBOOK}" rel="noopener noreferrer" class="context-url">{FIXTURE_RUNBOOK}</a>' in body
    assert "5xx ratio is 7.2% on checkout-1" in body
    assert "5xx ratio is 6.1% on checkout-2" in body
    generator = GENERATOR.replace("&", "&amp;")
    assert f'href="{generator}"' in body
    # Both alerts share one runbook and one generator URL: each is listed once.
    context = incident_context(incident)
    assert [link.url for link in context.runbooks] == [FIXTURE_RUNBOOK]
    assert [link.source for link in context.runbooks] == ["annotation runbook_url"]
    assert [link.url for link in context.links] == [GENERATOR]
    assert [(a.fingerprint, a.status) for a in context.alerts] == [
        ("6f4b1a2c9d3e0f17", "firing"),
        ("a81c55d0e2b94f63", "firing"),
    ]


def test_a_javascript_or_scheme_relative_runbook_is_shown_as_text_only(signed_in: Client) -> None:
    data = webhook(
        alert("Evil", "f1", runbook_url="javascript:alert(document.cookie)", dashboard_url="//evil.example/d"),
        alert("Evil2", "f2", runbook_url="//evil.example/runbook", grafana_url="https://grafana.example.internal/d/1"),
    )
    incident = ingest("alertmanager", data)
    body = page(signed_in, incident)

    assert "javascript:alert(document.cookie)" in body  # shown, as text
    assert "//evil.example/runbook" in body
    assert 'href="javascript:' not in body.replace(" ", "")
    assert 'href="//evil' not in body
    assert '<code class="context-url"' in body
    assert 'href="https://grafana.example.internal/d/1"' in body
    context = incident_context(incident)
    assert [(link.kind, link.source, link.href) for link in context.links if link.kind == "dashboard"] == [
        ("dashboard", "annotation dashboard_url", None),
        ("dashboard", "annotation grafana_url", "https://grafana.example.internal/d/1"),
    ]


def test_the_latest_signal_of_each_fingerprint_counts() -> None:
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    integration, token = integration_for(service)
    first = webhook(alert("Disk", "fp1", description="disk 91% full"))
    assert post(alertmanager_url(token), first).status_code == 202
    later = webhook(alert("Disk", "fp1", description="disk 97% full"))
    later["alerts"][0]["status"] = "resolved"
    later["alerts"].append(alert("Disk", "fp2", description="disk 93% full on db-2"))
    assert post(alertmanager_url(token), later).status_code == 202
    process_pending()
    incident = Incident.objects.get(integration=integration)

    context = incident_context(incident)
    assert [(a.fingerprint, a.status, a.description) for a in context.alerts] == [
        ("fp1", "resolved", "disk 97% full"),
        ("fp2", "firing", "disk 93% full on db-2"),
    ]
    assert context.descriptions == ("disk 97% full", "disk 93% full on db-2")


# --- The rule catalog's runbook ---------------------------------------------------------------------


def test_an_alert_without_runbook_url_gets_the_rule_catalogs_runbook() -> None:
    payments = ServiceFactory.create(slug="payments", name="Payments")
    import_rule_files(files=[("prometheus-alert-rules.yml", fixture_text())])
    incident = ingest("alertmanager", webhook(alert("PaymentsDown", "p1", summary="Payments target down")), payments)

    context = incident_context(incident)
    assert [(link.url, link.source, link.href) for link in context.runbooks] == [
        (
            "https://runbooks.example.internal/payments/down",
            "rule catalog",
            "https://runbooks.example.internal/payments/down",
        )
    ]
    assert context.alerts[0].runbook is not None
    assert context.alerts[0].runbook.source == "rule catalog"


def test_an_opsgov_runbook_is_linked_under_the_base_url_and_the_alerts_own_runbook_wins() -> None:
    checkout = ServiceFactory.create(slug="checkout", name="Checkout")
    make_runbook("checkout-latency", services=[checkout])
    rules = f"""groups:
  - name: checkout
    rules:
      - alert: CheckoutLatencyHigh
        expr: vector(1) > 0
        labels: {{severity: warning, service: checkout}}
        annotations: {{runbook_url: "{BASE_URL}/monitoring/runbooks/checkout-latency/"}}
      - alert: HighErrorRate
        expr: vector(1) > 0
        labels: {{severity: critical, service: checkout}}
        annotations: {{runbook_url: "https://wiki.example.internal/old-runbook"}}
"""
    import_rule_files(files=[("checkout.yml", rules)])
    incident = ingest(
        "alertmanager",
        webhook(
            alert("CheckoutLatencyHigh", "l1"),
            alert("HighErrorRate", "e1", runbook_url="https://runbooks.example.internal/own"),
        ),
        checkout,
    )

    context = incident_context(incident)
    assert [(link.text, link.url, link.source) for link in context.runbooks] == [
        ("CheckoutLatencyHigh", f"{BASE_URL}/monitoring/runbooks/checkout-latency/", "rule catalog"),
        ("HighErrorRate", "https://runbooks.example.internal/own", "annotation runbook_url"),
    ]


def test_a_rule_of_another_service_is_not_used() -> None:
    ServiceFactory.create(slug="payments", name="Payments")
    import_rule_files(files=[("prometheus-alert-rules.yml", fixture_text())])
    checkout = ServiceFactory.create(slug="checkout", name="Checkout")
    incident = ingest("alertmanager", webhook(alert("PaymentsDown", "p1")), checkout)

    assert incident_context(incident).runbooks == ()
    assert runbooks.for_alert(service_id=checkout.pk, alertname="PaymentsDown") is None


def test_without_a_provider_the_runbook_directory_knows_nothing() -> None:
    directory = RunbookDirectory()
    assert directory.for_alerts(service_id=1, alertnames=["PaymentsDown"]) == {}
    assert directory.for_alert(service_id=1, alertname="PaymentsDown") is None
    directory.provide(
        lambda *, service_id, alertnames: {name: f"https://rb/{service_id}/{name}" for name in alertnames}
    )
    assert directory.for_alerts(service_id=7, alertnames=["B", "A", "", "A"]) == {
        "A": "https://rb/7/A",
        "B": "https://rb/7/B",
    }


# --- Events v2 --------------------------------------------------------------------------------------


def test_events_v2_links_images_client_and_details(signed_in: Client) -> None:
    incident = ingest("pagerduty", events_v2_trigger())
    context = incident_context(incident)

    assert [(link.text, link.url, link.source) for link in context.runbooks] == [
        ("Runbook", "https://runbooks.example.internal/checkout/db-pool", "Events v2 links")
    ]
    assert [(link.kind, link.text, link.url, link.href) for link in context.links] == [
        (
            "link",
            "Pool dashboard",
            "https://grafana.example.internal/d/pool",
            "https://grafana.example.internal/d/pool",
        ),
        ("link", "Sneaky", "data:text/html,<script>alert(1)</script>", None),
        ("link", "Image link", "https://grafana.example.internal/d/pool2", "https://grafana.example.internal/d/pool2"),
        ("client", "Prometheus", "http://prometheus.example.internal:9090", "http://prometheus.example.internal:9090"),
    ]
    assert [(image.text, image.url, image.href) for image in context.images] == [
        (
            "Image",
            "https://grafana.example.internal/render/pool.png",
            "https://grafana.example.internal/render/pool.png",
        ),
        ("tracker", "//evil.example/track.png", None),
    ]
    [details] = context.custom_details
    assert json.loads(details.text) == {"pool_size": 50, "waiting": 213, "note": "<script>alert(1)</script>"}
    assert details.value == {"pool_size": 50, "waiting": 213, "note": "<script>alert(1)</script>"}
    assert not details.truncated

    body = page(signed_in, incident)
    assert "<img" not in body  # images are never loaded from outside
    assert 'href="https://grafana.example.internal/render/pool.png"' in body
    assert 'href="data:' not in body
    assert "<script>alert(1)</script>" not in body
    assert "&quot;note&quot;: &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;" in body
    assert 'href="http://prometheus.example.internal:9090"' in body


def test_large_custom_details_are_cut_to_a_fixed_size(signed_in: Client) -> None:
    data = payload("pagerduty-v2-trigger")
    data["payload"]["custom_details"] = {"log": "x" * (3 * DETAILS_LIMIT), "nested": [[[[{"deep": True}]]]]}
    incident = ingest("pagerduty", data)

    [details] = incident_context(incident).custom_details
    assert details.truncated
    assert details.value is None
    assert len(details.text) < DETAILS_LIMIT + 100
    assert "more characters not shown" in details.text
    assert "x" * (2 * DETAILS_LIMIT) not in page(signed_in, incident)


def test_an_incident_without_signals_has_an_empty_context(signed_in: Client) -> None:
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    incident = services.incident_create(title="Declared by hand", service=service, severity="SEV-3")
    assert incident_context(incident) == IncidentContext()
    assert "carry no runbook" in page(signed_in, incident)


# --- API detail -------------------------------------------------------------------------------------


def test_the_api_detail_carries_the_context(
    make_user: Callable[..., User], client_for: Callable[[User], APIClient]
) -> None:
    incident = ingest("alertmanager", payload("alertmanager-v4-firing"))
    api = client_for(make_user("sre", SRE_LEAD))

    body = api.get(f"/api/v1/incidents/{incident.pk}/").json()
    context = body["context"]
    assert context["runbooks"] == [
        {
            "kind": "runbook",
            "text": "HighErrorRate",
            "url": FIXTURE_RUNBOOK,
            "href": FIXTURE_RUNBOOK,
            "source": "annotation runbook_url",
        }
    ]
    assert context["descriptions"] == ["5xx ratio is 7.2% on checkout-1", "5xx ratio is 6.1% on checkout-2"]
    assert [link["url"] for link in context["links"]] == [GENERATOR]
    assert [alert["fingerprint"] for alert in context["alerts"]] == ["6f4b1a2c9d3e0f17", "a81c55d0e2b94f63"]
    assert context == incident_context(incident).as_json()


def test_the_api_detail_marks_unsafe_links_with_a_null_href(
    make_user: Callable[..., User], client_for: Callable[[User], APIClient]
) -> None:
    incident = ingest("pagerduty", events_v2_trigger())
    api = client_for(make_user("sre", SRE_LEAD))

    context = api.get(f"/api/v1/incidents/{incident.pk}/").json()["context"]
    sneaky = next(link for link in context["links"] if link["text"] == "Sneaky")
    assert sneaky["href"] is None
    assert sneaky["url"] == "data:text/html,<script>alert(1)</script>"
    assert context["custom_details"][0]["value"]["waiting"] == 213
    assert [image["href"] for image in context["images"]] == ["https://grafana.example.internal/render/pool.png", None]


# --- Query count ------------------------------------------------------------------------------------


def test_the_selector_needs_a_fixed_number_of_queries(django_assert_num_queries: DjangoAssertNumQueries) -> None:
    ServiceFactory.create(slug="checkout", name="Checkout")
    import_rule_files(files=[("prometheus-alert-rules.yml", fixture_text())])
    service = Service.objects.get(slug="checkout")
    integration, token = integration_for(service)

    def send(count: int, start: int) -> None:
        alerts = [alert(f"Alert{i % 3}", f"fp{i}", description=f"number {i}") for i in range(start, start + count)]
        alerts.append(alert("CheckoutLatencyHigh", "latency"))  # no runbook_url: the catalog is asked
        assert post(alertmanager_url(token), webhook(*alerts)).status_code == 202
        process_pending()

    send(2, 0)
    incident = Incident.objects.get(integration=integration)
    # The alert signals, the timeline signals, the webhooks' commonAnnotations, the rule catalog.
    with django_assert_num_queries(4):
        few = incident_context(incident)
    send(40, 2)  # more alerts than get a timeline entry each: the alert signals still hold every one
    with django_assert_num_queries(4):
        many = incident_context(incident)
    assert len(few.alerts) == 3
    assert len(many.alerts) == 43
    # With the timeline already loaded, its signals cost no query.
    timeline = list(incident.timeline.all())
    with django_assert_num_queries(3):
        assert incident_context(incident, timeline=timeline) == many


# --- Paging e-mail and webhook ----------------------------------------------------------------------


def parts(raw: bytes) -> tuple[str, str]:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    assert text_part is not None and html_part is not None
    # SMTP carries CRLF line ends; compare lines as the templates write them.
    return text_part.get_content().replace("\r\n", "\n"), html_part.get_content().replace("\r\n", "\n")


@pytest.mark.integration
def test_the_paging_email_and_the_webhook_carry_the_context(smtp_server: Sink) -> None:
    world = make_world()
    data = webhook(
        alert("HighErrorRate", "e1", description="5xx ratio is 7.2% on checkout-1"),
        alert("Sneaky", "s1", runbook_url="javascript:alert(1)", description="<b>bold</b> claim"),
        runbook_url=FIXTURE_RUNBOOK,
    )
    incident = ingest("alertmanager", data, world.service)
    with webhook_receiver() as receiver:
        webhook_channel(url=receiver.url, team=world.service.owner_team)
        oncall_tasks.escalate_due_incidents()
        sent = [oncall_tasks.deliver_notification(n.pk) for n in Notification.objects.filter(incident=incident)]
        assert sent == [NotificationStatus.SENT, NotificationStatus.SENT]

        [request] = receiver.requests
    hook = json.loads(request.body)
    assert hook["incident"]["context"] == incident_context(incident).as_json()
    assert [(link["url"], link["href"]) for link in hook["incident"]["context"]["runbooks"]] == [
        (FIXTURE_RUNBOOK, FIXTURE_RUNBOOK),
        ("javascript:alert(1)", None),
    ]

    [(_, rcpt_tos, raw)] = smtp_server.messages
    assert rcpt_tos == [world.alice.email]
    text, html = parts(raw)
    assert f"Runbook:     {FIXTURE_RUNBOOK}\n" in text
    assert "Runbook:     javascript:alert(1) [not an http(s) link]" in text
    assert "Description: 5xx ratio is 7.2% on checkout-1" in text
    assert "Description: <b>bold</b> claim" in text  # plain text stays as sent
    assert "HighErrorRate source: http://prometheus.example.internal:9090/graph?alert=HighErrorRate" in text
    assert f'<a href="{FIXTURE_RUNBOOK}" style="color:#1f6feb;">{FIXTURE_RUNBOOK}</a>' in html
    assert "<code>javascript:alert(1)</code>" in html
    assert 'href="javascript:' not in html
    assert "&lt;b&gt;bold&lt;/b&gt; claim" in html
    assert "<b>bold</b>" not in html
    assert 'href="http://prometheus.example.internal:9090/graph?alert=HighErrorRate"' in html


@pytest.mark.integration
def test_the_paging_email_shows_events_v2_details_and_images_as_links(smtp_server: Sink) -> None:
    world = make_world()
    incident = ingest("pagerduty", events_v2_trigger(), world.service)
    oncall_tasks.escalate_due_incidents()
    [notification] = Notification.objects.filter(incident=incident)
    assert oncall_tasks.deliver_notification(notification.pk) == NotificationStatus.SENT

    [(_, _, raw)] = smtp_server.messages
    text, html = parts(raw)
    assert "Image (Image): https://grafana.example.internal/render/pool.png" in text
    assert "Image (tracker): //evil.example/track.png [not an http(s) link]" in text
    assert '"waiting": 213' in text
    assert "Prometheus: http://prometheus.example.internal:9090" in text
    assert "<img" not in html
    assert 'href="https://grafana.example.internal/render/pool.png"' in html
    assert "<code>//evil.example/track.png</code>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
