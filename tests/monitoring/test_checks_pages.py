"""The checks pages: the list with and without data, filters, details, forms, actions, roles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.test import Client
from django.urls import reverse

from monitoring.checks import services as checks
from monitoring.models import CheckStatus, Heartbeat, HttpCheck
from opsgov.roles import SRE_LEAD, TECH_LEAD
from tests.factories import ServiceFactory

from .check_support import alert_actions, make_heartbeat, make_http_check

pytestmark = pytest.mark.django_db

LIST = "/monitoring/checks/"


@pytest.fixture
def sre(make_user: Callable[..., User]) -> User:
    return make_user("sre", SRE_LEAD)


@pytest.fixture
def signed_in(client: Client, sre: User) -> Client:
    client.force_login(sre)
    return client


@pytest.fixture
def tech_lead(client: Client, make_user: Callable[..., User]) -> Client:
    reader = Client()
    reader.force_login(make_user("tech", TECH_LEAD))
    return reader


def text(response: HttpResponseBase) -> str:
    assert isinstance(response, HttpResponse)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def fail_once(check: HttpCheck) -> None:
    checks.record_http_result(
        check=check,
        scheduled_for=check.created_at,
        probe=checks.Probe(at=check.created_at, ok=False, status_code=503, latency_ms=12, error="Answered 503."),
    )


def test_the_pages_need_a_login(client: Client) -> None:
    check = make_http_check("http://127.0.0.1:9/x")
    heartbeat = make_heartbeat()
    for url in (LIST, check.get_absolute_url(), heartbeat.get_absolute_url(), "/monitoring/checks/http/new/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_an_empty_list_explains_both_kinds_of_check(signed_in: Client) -> None:
    page = text(signed_in.get(LIST))
    assert "No HTTP checks yet" in page
    assert "No heartbeats yet" in page
    assert 'href="/monitoring/checks/http/new/"' in page
    assert 'href="/monitoring/checks/heartbeats/new/"' in page


def test_the_list_shows_status_last_result_next_due_and_ping_url(signed_in: Client) -> None:
    checkout = ServiceFactory.create(slug="checkout", name="Checkout")
    down = make_http_check("http://127.0.0.1:9/pay", service=checkout, name="Payments page", failure_threshold=1)
    fail_once(down)
    make_http_check("http://127.0.0.1:9/basket", service=checkout, name="Basket", enabled=False)
    heartbeat = make_heartbeat(service=checkout, name="Nightly settlement")
    checks.heartbeat_ping(uuid=heartbeat.uuid, ping=checks.PingRequest(kind="success", method="GET"))

    page = text(signed_in.get(LIST))
    assert "Payments page" in page and "Basket" in page and "Nightly settlement" in page
    assert 'class="badge badge-danger check-status status-down"' in page
    assert 'class="badge badge-muted check-status status-paused"' in page
    assert 'class="badge badge-success check-status status-up"' in page
    assert "Answered 503." in page, "the last error is shown"
    assert f'value="{heartbeat.ping_url}"' in page
    assert f'data-copy="{heartbeat.ping_url}"' in page
    assert "every 1 d · grace 1 h" in page


def test_the_list_filters_by_status_service_and_q(signed_in: Client) -> None:
    checkout = ServiceFactory.create(slug="checkout", name="Checkout")
    auth = ServiceFactory.create(slug="auth", name="Auth")
    fail_once(make_http_check("http://127.0.0.1:9/pay", service=checkout, name="Payments page", failure_threshold=1))
    make_http_check("http://127.0.0.1:9/login", service=auth, name="Login page")
    make_heartbeat(service=auth, name="Token cleanup")

    page = text(signed_in.get(LIST + "?status=down"))
    assert "Payments page" in page and "Login page" not in page
    assert "No heartbeat matches these filters" in page
    page = text(signed_in.get(LIST + "?service=auth"))
    assert "Login page" in page and "Token cleanup" in page and "Payments page" not in page
    page = text(signed_in.get(LIST + "?q=cleanup"))
    assert "Token cleanup" in page and "No HTTP check matches these filters" in page


def test_the_list_refreshes_its_tables_as_a_fragment(signed_in: Client) -> None:
    make_http_check("http://127.0.0.1:9/x", name="Fragment check")
    response = signed_in.get(LIST, HTTP_HX_REQUEST="true")
    page = text(response)
    assert "Fragment check" in page
    assert "<html" not in page
    assert "HX-Request" in response["Vary"]


def test_the_list_uses_a_fixed_number_of_queries(signed_in: Client, django_assert_max_num_queries) -> None:
    for n in range(12):
        service = ServiceFactory.create()
        make_http_check(f"http://127.0.0.1:9/{n}", service=service, name=f"check {n}")
        make_heartbeat(service=service, name=f"job {n}")
    # session + user + permissions + services (filter form) + 2 counts, 2 pages, 2 summary counts, roles.
    with django_assert_max_num_queries(14):
        text(signed_in.get(LIST))


def test_an_http_check_page_shows_its_runs_and_flips(signed_in: Client) -> None:
    check = make_http_check("http://127.0.0.1:9/x", name="Gateway health", failure_threshold=1)
    page = text(signed_in.get(check.get_absolute_url()))
    assert "No run yet" in page and "No status change yet" in page
    fail_once(check)
    page = text(signed_in.get(check.get_absolute_url()))
    assert "Answered 503." in page
    assert "Failed runs in a row reached the threshold" in page
    assert ">Pause</button>" in page and ">Delete</button>" in page


def test_a_heartbeat_page_shows_its_ping_url_and_pings(signed_in: Client) -> None:
    heartbeat = make_heartbeat(name="Nightly backup")
    page = text(signed_in.get(heartbeat.get_absolute_url()))
    assert f"curl -fsS -m 10 --retry 3 {heartbeat.ping_url}" in page
    assert "No ping yet" in page
    checks.heartbeat_ping(
        uuid=heartbeat.uuid, ping=checks.PingRequest(kind="fail", method="POST", body=b"pg_dump: error <x>")
    )
    page = text(signed_in.get(heartbeat.get_absolute_url()))
    assert "pg_dump: error &lt;x&gt;" in page, "the body is shown, escaped"
    assert "The job pinged /fail" in page


def test_unknown_checks_are_404(signed_in: Client) -> None:
    assert signed_in.get("/monitoring/checks/http/00000000-0000-4000-8000-000000000000/").status_code == 404
    assert signed_in.get("/monitoring/checks/heartbeats/00000000-0000-4000-8000-000000000000/").status_code == 404


def test_creating_an_http_check_from_the_form(signed_in: Client) -> None:
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    form = text(signed_in.get(reverse("monitoring:http-check-create")))
    assert 'name="expected_status_min"' in form and 'value="SEV-3" selected' in form
    response = signed_in.post(
        reverse("monitoring:http-check-create"),
        {
            "service": service.pk,
            "name": "Checkout health",
            "url": "http://127.0.0.1:8000/healthz",
            "method": "GET",
            "expected_status_min": 200,
            "expected_status_max": 299,
            "timeout_ms": 2000,
            "interval_seconds": 60,
            "failure_threshold": 3,
            "severity": "SEV-2",
            "enabled": "on",
        },
    )
    check = HttpCheck.objects.get(name="Checkout health")
    assert response.status_code == 302 and response["Location"] == check.get_absolute_url()
    assert (check.failure_threshold, check.severity, check.status) == (3, "SEV-2", CheckStatus.NEW)


def test_the_form_shows_field_errors(signed_in: Client) -> None:
    service = ServiceFactory.create()
    response = signed_in.post(
        reverse("monitoring:http-check-create"),
        {
            "service": service.pk,
            "name": "x",
            "url": "not a url",
            "method": "GET",
            "expected_status_min": 500,
            "expected_status_max": 200,
            "timeout_ms": 2000,
            "interval_seconds": 10,
            "failure_threshold": 2,
            "severity": "SEV-3",
        },
    )
    page = text(response)
    assert page.count('class="field-error"') >= 3
    assert not HttpCheck.objects.exists()


def test_editing_and_pausing_an_http_check(signed_in: Client) -> None:
    check = make_http_check("http://127.0.0.1:9/x", name="Before", failure_threshold=1)
    fail_once(check)
    form = text(signed_in.get(reverse("monitoring:http-check-edit", args=[check.uuid])))
    assert 'value="Before"' in form
    data = {
        "service": check.service_id,
        "name": "After",
        "url": check.url,
        "method": "HEAD",
        "expected_status_min": 200,
        "expected_status_max": 299,
        "timeout_ms": 1000,
        "interval_seconds": 120,
        "failure_threshold": 1,
        "severity": "SEV-3",
        "enabled": "on",
    }
    assert signed_in.post(reverse("monitoring:http-check-edit", args=[check.uuid]), data).status_code == 302
    check.refresh_from_db()
    assert (check.name, check.method, check.interval_seconds) == ("After", "HEAD", 120)

    response = signed_in.post(reverse("monitoring:http-check-action", args=[check.uuid, "pause"]))
    assert response.status_code == 302
    check.refresh_from_db()
    assert check.status == CheckStatus.PAUSED
    assert alert_actions(check.alert_key) == ["trigger", "resolve"]
    assert ">Resume</button>" in text(signed_in.get(check.get_absolute_url()))
    signed_in.post(reverse("monitoring:http-check-action", args=[check.uuid, "resume"]))
    check.refresh_from_db()
    assert check.status == CheckStatus.NEW
    assert signed_in.get(reverse("monitoring:http-check-action", args=[check.uuid, "pause"])).status_code == 405
    assert signed_in.post(reverse("monitoring:http-check-action", args=[check.uuid, "explode"])).status_code == 404
    response = signed_in.post(reverse("monitoring:http-check-action", args=[check.uuid, "delete"]))
    assert response["Location"] == LIST
    assert not HttpCheck.objects.exists()


def test_creating_and_editing_a_heartbeat_with_readable_durations(signed_in: Client) -> None:
    service = ServiceFactory.create()
    form = text(signed_in.get(reverse("monitoring:heartbeat-create")))
    assert 'value="1 day"' in form and 'value="1 hour"' in form
    response = signed_in.post(
        reverse("monitoring:heartbeat-create"),
        {"service": service.pk, "name": "Hourly sync", "period": "1 hour", "grace": "10 minutes", "severity": "SEV-4"},
    )
    heartbeat = Heartbeat.objects.get(name="Hourly sync")
    assert response["Location"] == heartbeat.get_absolute_url()
    assert (heartbeat.period, heartbeat.grace, heartbeat.severity) == (
        timedelta(hours=1),
        timedelta(minutes=10),
        "SEV-4",
    )
    bad = signed_in.post(
        reverse("monitoring:heartbeat-edit", args=[heartbeat.uuid]),
        {"service": service.pk, "name": "Hourly sync", "period": "soon", "grace": "30 seconds", "severity": "SEV-4"},
    )
    page = text(bad)
    assert "Write a duration such as" in page
    edit = text(signed_in.get(reverse("monitoring:heartbeat-edit", args=[heartbeat.uuid])))
    assert 'value="10 minutes"' in edit

    signed_in.post(reverse("monitoring:heartbeat-action", args=[heartbeat.uuid, "pause"]))
    heartbeat.refresh_from_db()
    assert heartbeat.status == CheckStatus.PAUSED


def test_a_reader_sees_no_change_buttons_and_cannot_change(tech_lead: Client) -> None:
    check = make_http_check("http://127.0.0.1:9/x")
    heartbeat = make_heartbeat()
    page = text(tech_lead.get(LIST))
    assert "New HTTP check" not in page and "New heartbeat" not in page
    assert ">Pause</button>" not in text(tech_lead.get(check.get_absolute_url()))
    assert tech_lead.get(reverse("monitoring:http-check-create")).status_code == 403
    assert tech_lead.get(reverse("monitoring:heartbeat-edit", args=[heartbeat.uuid])).status_code == 403
    assert tech_lead.post(reverse("monitoring:http-check-action", args=[check.uuid, "pause"])).status_code == 403
    assert tech_lead.post(reverse("monitoring:heartbeat-action", args=[heartbeat.uuid, "delete"])).status_code == 403
    check.refresh_from_db()
    assert check.status == CheckStatus.NEW and Heartbeat.objects.exists()
