"""HTTP checks refuse loopback, link-local, private and reserved targets unless the policy allows them.

At creation (the field `url` named in the API and the form) and again at every
run, against the addresses the host resolves to then (DNS rebinding).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from monitoring.checks import services as checks
from monitoring.checks import targets as check_targets
from monitoring.models import HttpCheck
from opsgov.errors import DomainError
from opsgov.policy import clear_policy_cache
from opsgov.roles import SRE_LEAD
from tests.factories import ServiceFactory

from .check_support import make_http_check

pytestmark = pytest.mark.django_db


def use_policy(settings: Any, tmp_path: Path, toml: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(toml)
    settings.OPSGOV_POLICY = str(path)
    clear_policy_cache()


@pytest.fixture
def production(settings: Any, tmp_path: Path) -> Callable[[str], None]:
    """The production default (DEBUG=false): private targets refused; `networks` allowed by the policy."""
    settings.HTTP_CHECKS_ALLOW_PRIVATE_BY_DEFAULT = False

    def allow(networks: str = "") -> None:
        use_policy(settings, tmp_path, f"[monitoring.http_checks]\nallowed_networks = [{networks}]\n")

    allow()
    return allow


def due(check: HttpCheck) -> datetime:
    assert check.next_run_at is not None
    return check.next_run_at


@contextmanager
def host_recording_server() -> Iterator[tuple[int, list[str]]]:
    """A real HTTP server on 127.0.0.1 that answers 200 and records each request's Host header."""
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            hosts.append(self.headers.get("Host", ""))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], hosts
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:6390/", "127.0.0.1 is a loopback address"),
        ("http://localhost:8000/healthz", "localhost resolves to"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "is a link-local address"),
        ("http://10.1.2.3/", "is a private address"),
        ("http://192.168.0.1/", "is a private address"),
        ("http://0.0.0.0:8000/", "is an unspecified address"),
        ("http://224.0.0.1/", "is a multicast address"),
        ("http://240.0.0.1/", "is a reserved address"),
        ("http://100.64.0.1/", "is a non-global address"),
        ("https://no-such-host.invalid/", "does not resolve"),
    ],
)
def test_a_non_public_target_is_refused_at_creation_naming_the_url(
    production: Callable[[str], None], url: str, kind: str
) -> None:
    with pytest.raises(DomainError, match=kind) as refused:
        make_http_check(url)
    assert refused.value.field == "url"
    assert not HttpCheck.objects.exists()


def test_a_public_address_is_accepted(production: Callable[[str], None]) -> None:
    assert make_http_check("http://93.184.215.14/healthz").url == "http://93.184.215.14/healthz"


def test_the_api_answers_400_naming_url(
    production: Callable[[str], None], make_user: Callable[..., User], client_for: Callable[[User], APIClient]
) -> None:
    ServiceFactory.create(slug="checkout")
    response = client_for(make_user("sre", SRE_LEAD)).post(
        "/api/v1/checks/http/",
        {"service": "checkout", "name": "Probe", "url": "http://127.0.0.1:6390/"},
        format="json",
    )
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert error["field"] == "url"
    assert "127.0.0.1 is a loopback address" in error["message"]


def test_the_form_shows_the_refusal_on_the_url_field(
    production: Callable[[str], None], make_user: Callable[..., User]
) -> None:
    service = ServiceFactory.create()
    client = Client()
    client.force_login(make_user("sre", SRE_LEAD))
    data = {
        "service": service.pk,
        "name": "Probe",
        "url": "http://169.254.169.254/",
        "method": "GET",
        "expected_status_min": 200,
        "expected_status_max": 299,
        "timeout_ms": 2000,
        "interval_seconds": 60,
        "failure_threshold": 2,
        "severity": "SEV-3",
        "enabled": "on",
    }
    response = client.post(reverse("monitoring:http-check-create"), data)
    assert response.status_code == 200
    assert response.context["form"].errors["url"] == [
        "169.254.169.254 is a link-local address; HTTP checks may not request it "
        "(policy monitoring.http_checks: allow_private_targets, allowed_networks)."
    ]
    assert not HttpCheck.objects.exists()


def test_an_allowed_network_may_be_requested_at_the_vetted_address_with_the_original_host(
    production: Callable[[str], None],
) -> None:
    production('"127.0.0.0/8", "::1/128"')
    with host_recording_server() as (port, hosts):
        check = make_http_check(f"http://localhost:{port}/healthz")
        result = checks.run_http_check(check_id=check.pk, scheduled_for=due(check))
    assert result is not None and result.ok, result and result.error
    assert hosts == [f"localhost:{port}"]


def test_each_run_vets_the_target_again(production: Callable[[str], None]) -> None:
    production('"127.0.0.0/8", "::1/128"')
    with host_recording_server() as (port, hosts):
        check = make_http_check(f"http://localhost:{port}/healthz")
        production("")  # what the host resolves to is no longer allowed (as after a DNS change)
        result = checks.run_http_check(check_id=check.pk, scheduled_for=due(check))
    assert result is not None and not result.ok
    assert result.error.startswith("Not requested: localhost resolves to ")
    assert hosts == []  # nothing was sent


def test_a_check_whose_target_is_now_refused_can_still_be_paused(production: Callable[[str], None]) -> None:
    production('"10.0.0.0/8"')
    check = make_http_check("http://10.1.2.3/")
    production("")
    assert checks.http_check_pause(check=check).enabled is False
    with pytest.raises(DomainError, match="private"):
        checks.http_check_update(check=check, data={"url": "http://10.9.9.9/"})


def test_the_embedded_default_allows_loopback_and_the_policy_decides_over_it(settings: Any, tmp_path: Path) -> None:
    settings.HTTP_CHECKS_ALLOW_PRIVATE_BY_DEFAULT = True  # DEBUG on at start-up: make run, the tests
    assert check_targets.private_targets_allowed()
    make_http_check("http://127.0.0.1:8000/healthz")
    use_policy(settings, tmp_path, "[monitoring.http_checks]\nallow_private_targets = false\n")
    with pytest.raises(DomainError, match="loopback"):
        make_http_check("http://127.0.0.1:8000/readyz")
    settings.HTTP_CHECKS_ALLOW_PRIVATE_BY_DEFAULT = False
    use_policy(settings, tmp_path, "[monitoring.http_checks]\nallow_private_targets = true\n")
    make_http_check("http://127.0.0.1:8000/readyz")
