"""The incident pages: list with filters, detail with timeline and actions, declaring, metrics."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from incidents import services
from incidents.models import Incident, IncidentStatus, TimelineKind
from opsgov.formatting import format_duration
from opsgov.models import Lifecycle, MetricSnapshot
from opsgov.registry import MetricDefinition, metrics
from opsgov.roles import SECURITY_LEAD, SRE_LEAD, TECH_LEAD

from ..factories import ServiceFactory
from .factories import IncidentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sre(make_user: Callable[..., User]) -> User:
    return make_user("sre", SRE_LEAD, first_name="Sam", last_name="Reyes")


@pytest.fixture
def signed_in(client: Client, sre: User) -> Client:
    client.force_login(sre)
    return client


@pytest.fixture
def as_role(make_user: Callable[..., User]) -> Callable[[str], Client]:
    def make(role: str) -> Client:
        client = Client()
        client.force_login(make_user(role.lower().replace(" ", "_") or "outsider", *([role] if role else [])))
        return client

    return make


def text(response: HttpResponseBase) -> str:
    assert isinstance(response, HttpResponse)
    return response.content.decode()


def ago(**delta: float) -> Any:
    return (timezone.now() - timedelta(**delta)).replace(microsecond=0)


def action_url(incident: Incident, action: str) -> str:
    return reverse("incident-action", kwargs={"number": incident.pk, "action": action})


# --- Access ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("incident-list", {}),
        ("incident-declare", {}),
        ("incident-detail", {"number": 1}),
        ("incident-metrics", {}),
        ("incident-service-metrics", {"slug": "checkout"}),
    ],
)
def test_anonymous_visitors_are_sent_to_the_login_page(client: Client, name: str, kwargs: dict[str, Any]) -> None:
    url = reverse(name, kwargs=kwargs)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_the_incidents_area_is_in_the_navigation(signed_in: Client) -> None:
    body = text(signed_in.get(reverse("incident-list")))
    assert re.search(r'<a href="/incidents/" aria-current="page">\s*<span class="step">2</span> Incidents', body)


# --- List ----------------------------------------------------------------------------------------


def test_the_list_shows_incidents_with_badges_and_links(signed_in: Client) -> None:
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    incident = IncidentFactory.create(service=service, severity="SEV-1", title="Payments down", customer_impact=True)
    body = text(signed_in.get(reverse("incident-list")))
    assert f'href="/incidents/{incident.pk}/">INC-{incident.pk}</a>' in body
    assert "Payments down" in body
    assert 'class="sev sev-1"' in body
    assert "badge-danger incident-status status-triggered" in body
    assert 'href="/services/checkout/">Checkout</a>' in body
    assert "Customer impact" in body
    assert 'href="/incidents/new/"' in body  # an SRE lead may declare incidents


@pytest.fixture
def catalogue() -> dict[str, Incident]:
    checkout = ServiceFactory.create(slug="checkout", name="Checkout")
    auth = ServiceFactory.create(slug="auth", name="Auth")
    incidents = {
        "pay": IncidentFactory.create(
            service=checkout, severity="SEV-1", title="Payments down", customer_impact=True, triggered_at=ago(days=1)
        ),
        "login": IncidentFactory.create(
            service=auth, severity="SEV-3", title="Login slow", summary="OIDC latency", triggered_at=ago(days=10)
        ),
    }
    services.incident_resolve(incident=incidents["login"])
    return incidents


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ({"service": "checkout"}, "pay", "login"),
        ({"severity": "SEV-3"}, "login", "pay"),
        ({"status": "resolved"}, "login", "pay"),
        ({"q": "oidc"}, "login", "pay"),
        ({"customer_impact": "true"}, "pay", "login"),
        ({"triggered_after": "{days5}"}, "pay", "login"),
        ({"triggered_before": "{days5}"}, "login", "pay"),
    ],
)
def test_the_list_filters_with_the_api_filterset(
    signed_in: Client, catalogue: dict[str, Incident], query: dict[str, str], shown: str, hidden: str
) -> None:
    query = {key: value.format(days5=ago(days=5).date().isoformat()) for key, value in query.items()}
    body = text(signed_in.get(reverse("incident-list"), query))
    assert f">INC-{catalogue[shown].pk}</a>" in body
    assert f">INC-{catalogue[hidden].pk}</a>" not in body
    assert "matching these filters" in body


def test_the_filter_form_is_labelled_and_keeps_its_values(signed_in: Client, catalogue: dict[str, Incident]) -> None:
    body = text(signed_in.get(reverse("incident-list"), {"service": "checkout", "status": "resolved", "q": "x"}))
    assert 'role="search"' in body
    assert '<label for="id_service">Service</label>' in body
    assert '<option value="checkout" selected>Checkout</option>' in body
    assert "<legend>Severity</legend>" in body and "<legend>Status</legend>" in body
    assert 'value="resolved"' in body and "checked" in body
    assert 'type="date"' in body
    assert 'value="x"' in body


def test_empty_filter_values_mean_any(signed_in: Client, catalogue: dict[str, Incident]) -> None:
    body = text(signed_in.get(reverse("incident-list"), {"q": "", "service": "", "customer_impact": ""}))
    assert body.count('<th scope="row" class="incident-title">') == 2
    assert "field-error" not in body


def test_the_list_empty_states(signed_in: Client) -> None:
    body = text(signed_in.get(reverse("incident-list")))
    assert "No incidents yet" in body and "import_incidents" in body
    IncidentFactory.create(title="Something")
    body = text(signed_in.get(reverse("incident-list"), {"q": "nothing-like-this"}))
    assert "No incidents match these filters" in body and "No incidents yet" not in body


def test_the_list_paginates_and_keeps_the_filters(signed_in: Client) -> None:
    service = ServiceFactory.create(slug="checkout")
    for _ in range(55):
        IncidentFactory.create(service=service)
    first = text(signed_in.get(reverse("incident-list"), {"service": "checkout"}))
    assert "Showing 1\u201350 of 55 incidents" in first
    assert 'href="?service=checkout&amp;page=2"' in first
    second = text(signed_in.get(reverse("incident-list"), {"service": "checkout", "page": "2"}))
    assert "Showing 51\u201355 of 55 incidents" in second


def test_the_list_needs_a_fixed_number_of_queries(
    signed_in: Client, sre: User, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    services_ = [ServiceFactory.create() for _ in range(3)]

    def add(count: int) -> None:
        for index in range(count):
            services.incident_acknowledge(incident=IncidentFactory.create(service=services_[index % 3]), actor=sre)

    add(5)
    # session, user, services (filter), count, permissions (2), roles (layout), the page.
    with django_assert_max_num_queries(8) as few:
        signed_in.get(reverse("incident-list"))
    add(45)
    with django_assert_max_num_queries(8) as many:
        signed_in.get(reverse("incident-list"))
    assert len(many.captured_queries) == len(few.captured_queries)


# --- Detail ----------------------------------------------------------------------------------------


def test_the_detail_shows_the_header_times_and_timeline(signed_in: Client, sre: User) -> None:
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    triggered = ago(hours=5)
    incident = IncidentFactory.create(
        service=service, severity="SEV-2", title="Checkout errors", triggered_at=triggered
    )
    services.incident_acknowledge(incident=incident, actor=sre, at=triggered + timedelta(minutes=6, seconds=30))
    services.incident_add_note(
        incident=incident, actor=sre, message="Rolled back release 42", at=triggered + timedelta(hours=1)
    )
    services.incident_resolve(incident=incident, actor=sre, at=triggered + timedelta(hours=3, minutes=12))

    body = text(signed_in.get(incident.get_absolute_url()))
    assert f"<span>INC-{incident.pk}</span>" in body
    assert "badge-success incident-status status-resolved" in body
    assert 'class="sev sev-2"' in body
    assert "respond within 1 hour" in body
    assert 'href="/services/checkout/">Checkout</a>' in body
    assert "Sam Reyes" in body  # the commander, set by the acknowledgement
    assert "after 6 min 30 s" in body
    assert "after 3 h 12 min" in body
    positions = [body.index(needle) for needle in ("Triggered</td>", "Rolled back release 42", "Resolved</td>")]
    assert positions == sorted(positions)
    assert body.count('class="timeline-') >= 4


def test_an_unknown_incident_is_not_found(signed_in: Client) -> None:
    assert signed_in.get(reverse("incident-detail", kwargs={"number": 999})).status_code == 404
    assert signed_in.post(reverse("incident-action", kwargs={"number": 999, "action": "note"})).status_code == 404


def test_the_buttons_match_the_status(signed_in: Client) -> None:
    incident = IncidentFactory.create()
    body = text(signed_in.get(incident.get_absolute_url()))
    for action in ("acknowledge", "mitigate", "resolve", "cancel", "note"):
        assert f'action="{action_url(incident, action)}"' in body
    assert action_url(incident, "reopen") not in body
    assert body.count("csrfmiddlewaretoken") >= 6  # each action form, and the logout form

    services.incident_resolve(incident=incident)
    body = text(signed_in.get(incident.get_absolute_url()))
    assert f'action="{action_url(incident, "reopen")}"' in body
    assert action_url(incident, "acknowledge") not in body


def test_the_actions_work_and_say_so(signed_in: Client) -> None:
    incident = IncidentFactory.create()

    response = signed_in.post(action_url(incident, "acknowledge"), follow=True)
    assert response.redirect_chain == [(incident.get_absolute_url(), 302)]
    assert f"INC-{incident.pk} acknowledged." in text(response)

    signed_in.post(action_url(incident, "mitigate"), {"message": "Traffic drained"})
    signed_in.post(action_url(incident, "note"), {"message": "Customer comms sent"})
    signed_in.post(action_url(incident, "resolve"), {"message": "Pool resized"})
    signed_in.post(action_url(incident, "reopen"), {"reason": "Errors are back"})
    signed_in.post(action_url(incident, "cancel"), {"reason": "Load test"})

    incident.refresh_from_db()
    assert incident.status == IncidentStatus.CANCELLED
    assert incident.reopen_count == 1
    messages = list(incident.timeline.values_list("kind", "message", "actor__username"))
    assert messages == [
        (TimelineKind.TRIGGERED, "Triggered", None),
        (TimelineKind.STATUS, "Acknowledged", "sre"),
        (TimelineKind.STATUS, "Traffic drained", "sre"),
        (TimelineKind.NOTE, "Customer comms sent", "sre"),
        (TimelineKind.STATUS, "Pool resized", "sre"),
        (TimelineKind.REOPENED, "Reopened: Errors are back", "sre"),
        (TimelineKind.STATUS, "Cancelled: Load test", "sre"),
    ]


@pytest.mark.parametrize(
    ("prepare", "action", "data", "message"),
    [
        ("resolve", "acknowledge", {}, "cannot become acknowledged. Reopen it first."),
        ("", "cancel", {"reason": " "}, "Say why this is a false alarm."),
        ("resolve", "reopen", {}, "Say why the incident is reopened."),
        ("", "note", {"message": ""}, "A note needs some text."),
    ],
)
def test_a_refused_action_is_shown_as_an_error_message(
    signed_in: Client, prepare: str, action: str, data: dict[str, str], message: str
) -> None:
    incident = IncidentFactory.create()
    if prepare:
        signed_in.post(action_url(incident, prepare))
    before = incident.timeline.count()
    response = signed_in.post(action_url(incident, action), data, follow=True)
    assert response.status_code == 200
    body = text(response)
    assert 'class="message message-error"' in body
    assert message in body
    assert incident.timeline.count() == before


def test_actions_are_post_only_and_need_the_csrf_token(sre: User) -> None:
    incident = IncidentFactory.create()
    client = Client(enforce_csrf_checks=True)
    client.force_login(sre)
    assert client.get(action_url(incident, "acknowledge")).status_code == 405
    assert client.post(action_url(incident, "acknowledge")).status_code == 403
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.TRIGGERED


@pytest.mark.parametrize("role", [SECURITY_LEAD, ""])
def test_users_who_may_not_change_incidents_see_no_buttons_and_get_403(
    as_role: Callable[[str], Client], role: str
) -> None:
    incident = IncidentFactory.create()
    client = as_role(role)
    body = text(client.get(incident.get_absolute_url()))
    assert "Timeline" in body
    assert 'id="actions-heading"' not in body
    assert action_url(incident, "acknowledge") not in body
    assert 'href="/incidents/new/"' not in text(client.get(reverse("incident-list")))
    for action in ("acknowledge", "note", "cancel"):
        assert client.post(action_url(incident, action), {"message": "x", "reason": "x"}).status_code == 403
    assert client.get(reverse("incident-declare")).status_code == 403
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.TRIGGERED and incident.timeline.count() == 1


def test_a_tech_lead_can_act_on_incidents(as_role: Callable[[str], Client]) -> None:
    incident = IncidentFactory.create()
    client = as_role(TECH_LEAD)
    assert 'id="actions-heading"' in text(client.get(incident.get_absolute_url()))
    client.post(action_url(incident, "acknowledge"))
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.ACKNOWLEDGED


# --- Declare ---------------------------------------------------------------------------------------


def test_declaring_an_incident_opens_it_and_shows_it(signed_in: Client) -> None:
    ServiceFactory.create(slug="checkout", name="Checkout")
    ServiceFactory.create(slug="auth", name="Auth")
    ServiceFactory.create(slug="old", name="Old", lifecycle=Lifecycle.DEPRECATED)
    form = text(signed_in.get(reverse("incident-declare")))
    assert 'name="title"' in form and "csrfmiddlewaretoken" in form
    assert "SEV-1 — Critical" in form
    assert '<option value="old">' not in form  # only active services

    response = signed_in.post(
        reverse("incident-declare"),
        {
            "title": "Checkout down",
            "service": "checkout",
            "severity": "SEV-1",
            "summary": "All payments fail",
            "customer_impact": "on",
            "impacted_services": ["auth"],
        },
        follow=True,
    )
    incident = Incident.objects.get()
    assert response.redirect_chain == [(incident.get_absolute_url(), 302)]
    assert f"INC-{incident.pk} declared." in text(response)
    assert (incident.severity, incident.customer_impact, incident.service.slug) == ("SEV-1", True, "checkout")
    assert [service.slug for service in incident.impacted_services.all()] == ["auth"]
    assert incident.timeline.get().actor is not None


def test_a_bad_declaration_shows_the_form_again_with_errors(signed_in: Client) -> None:
    ServiceFactory.create(slug="checkout")
    response = signed_in.post(reverse("incident-declare"), {"title": "", "service": "checkout", "severity": "SEV-9"})
    assert response.status_code == 200
    body = text(response)
    assert body.count('class="field-error"') == 2
    assert "SEV-9 is not one of the available choices" in body
    assert not Incident.objects.exists()


# --- Metrics ------------------------------------------------------------------------------------------


def _constant(value: float) -> Callable[[], float]:
    return lambda: value


@pytest.fixture
def definitions() -> Iterator[None]:
    """MTTA, MTTR and MTBF registered (the real ones, or stand-ins with the policy's default targets)."""
    added = []
    for key, comparison, target in (("mtta", "<", 900.0), ("mttr", "<", 14400.0), ("mtbf", ">", 2592000.0)):
        if key not in metrics:
            metrics.register(
                MetricDefinition(
                    key=key,
                    title=key,
                    unit="seconds",
                    comparison=comparison,  # type: ignore[arg-type]
                    target=_constant(target),
                    compute=lambda **kwargs: [],
                )
            )
            added.append(key)
    yield
    for key in added:
        metrics.unregister(key)


@pytest.fixture
def unregistered() -> Iterator[None]:
    """No incident metric registered (the computation not installed yet); the registry restored as found,
    in its order (a metric registered again would otherwise be listed after the others of its app)."""
    every = metrics.all()
    for key in ("mtta", "mttr", "mtbf"):
        metrics.unregister(key)
    yield
    for definition in every:
        metrics.unregister(definition.key)
    for definition in every:
        metrics.register(definition)


def row(body: str, row_id: str) -> str:
    match = re.search(rf'<tr id="{row_id}">(.*?)</tr>', body, re.S)
    assert match, row_id
    return re.sub(r"\s+", " ", match.group(1))


def snapshot(metric: str, window: str, value: float | None, sample_size: int = 0, **details: Any) -> None:
    MetricSnapshot.objects.create(
        metric=metric, scope="service:checkout", window=window, value=value, sample_size=sample_size, details=details
    )


def test_the_service_metrics_page_says_no_data_before_any_computation(signed_in: Client, definitions: None) -> None:
    ServiceFactory.create(slug="checkout", name="Checkout")
    body = text(signed_in.get(reverse("incident-service-metrics", kwargs={"slug": "checkout"})))
    assert "No data yet." in body
    assert body.count("verdict-no-data") == 9  # three metrics, three windows
    assert "Target met" not in body and "Target missed" not in body
    assert "&lt; 15 min" in body and "&lt; 4 h" in body and "&gt; 30 d" in body


def test_the_service_metrics_page_shows_figures_against_the_targets(signed_in: Client, definitions: None) -> None:
    ServiceFactory.create(slug="checkout", name="Checkout")
    snapshot("mtta", "30d", 390, 12, p50=300, p90=840)
    snapshot("mttr", "30d", 11520, 9, p50=7200, p90=30000)
    snapshot("mttr", "7d", 18000, 2, p50=18000, p90=20000)
    snapshot("mtbf", "30d", None, 0, no_failures=True, display="> 30 days")
    snapshot("mtbf", "90d", 1_000_000, 7)
    snapshot("mtta", "7d", None, 0)  # computed, but nothing to measure
    body = text(signed_in.get(reverse("incident-service-metrics", kwargs={"slug": "checkout"})))

    assert "No data yet." not in body
    mtta = row(body, "mtta-30d")
    assert "6 min 30 s" in mtta and "Target met" in mtta and "5 min" in mtta and "14 min" in mtta and ">12<" in mtta
    assert "3 h 12 min" in row(body, "mttr-30d") and "Target met" in row(body, "mttr-30d")
    assert "5 h" in row(body, "mttr-7d") and "Target missed" in row(body, "mttr-7d")
    assert "&gt; 30 days" in row(body, "mtbf-30d") and "Target met" in row(body, "mtbf-30d")
    assert "11 d 14 h" in row(body, "mtbf-90d") and "Target missed" in row(body, "mtbf-90d")
    assert "no data" in row(body, "mtta-7d") and "verdict-no-data" in row(body, "mtta-7d")
    assert "no data" in row(body, "mtta-90d")


def test_the_metrics_pages_cope_without_registered_metrics(signed_in: Client, unregistered: None) -> None:
    ServiceFactory.create(slug="checkout", name="Checkout")
    snapshot("mtta", "30d", 390, 12)
    body = text(signed_in.get(reverse("incident-service-metrics", kwargs={"slug": "checkout"})))
    assert "6 min 30 s" in row(body, "mtta-30d")
    assert "Target met" not in body and "Target missed" not in body
    assert "&lt; 15 min" in body  # the policy's target, shown without a verdict
    assert signed_in.get(reverse("incident-metrics")).status_code == 200


def test_the_metrics_overview_lists_services_with_their_30_day_figures(
    signed_in: Client, definitions: None, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    ServiceFactory.create(slug="checkout", name="Checkout")
    ServiceFactory.create(slug="auth", name="Auth")
    snapshot("mtta", "30d", 1200, 4)
    with django_assert_max_num_queries(6):
        body = text(signed_in.get(reverse("incident-metrics")))
    assert 'href="/incidents/metrics/checkout/">Checkout</a>' in body
    assert 'href="/incidents/metrics/auth/">Auth</a>' in body
    assert "20 min" in body and "Target missed" in body
    assert body.count("verdict-no-data") == 5  # auth: three, checkout: MTTR and MTBF


def test_an_unknown_service_has_no_metrics_page(signed_in: Client) -> None:
    assert signed_in.get(reverse("incident-service-metrics", kwargs={"slug": "nope"})).status_code == 404


# --- Durations --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "—"),
        (0, "0 s"),
        (45, "45 s"),
        (59.6, "1 min"),
        (390, "6 min 30 s"),
        (3600, "1 h"),
        (11520, "3 h 12 min"),
        (11545, "3 h 12 min"),
        (86400 * 31, "31 d"),
        (86400 * 2 + 3600 * 4, "2 d 4 h"),
        (timedelta(minutes=90), "1 h 30 min"),
    ],
)
def test_durations_read_like_people_write_them(seconds: Any, shown: str) -> None:
    assert format_duration(seconds) == shown
