"""A personal API token used from a network (/24, /64) it was not used from before joins the alert queue."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from opsgov.models import TokenNetwork
from opsgov.roles import SRE_LEAD
from opsgov.tokens.networks import network_of
from opsgov.tokens.services import api_token_create
from security.models import AlertSource, SecurityAlert

pytestmark = pytest.mark.django_db
URL = "/api/v1/security/findings/"


def test_network_of_ipv4_ipv6_and_mapped_addresses() -> None:
    assert network_of("203.0.113.77") == "203.0.113.0/24"
    assert network_of("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert network_of("::ffff:198.51.100.9") == "198.51.100.0/24"
    assert network_of("not-an-address") is None
    assert network_of("") is None


def test_a_new_network_raises_one_alert_per_token_and_network(make_user: Callable[..., User]) -> None:
    dana = make_user("dana", SRE_LEAD)
    token = api_token_create(user=dana).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    def get(address: str) -> None:
        assert client.get(URL, REMOTE_ADDR=address).status_code == 200

    get("203.0.113.5")  # the token's first network: nothing to compare with
    get("203.0.113.200")  # same /24
    assert not SecurityAlert.objects.exists()
    assert list(TokenNetwork.objects.values_list("network", flat=True)) == ["203.0.113.0/24"]

    get("198.51.100.7")
    (alert,) = SecurityAlert.objects.all()
    assert (alert.source, alert.rule, alert.severity) == (
        AlertSource.OPSGOV,
        "API token used from a new network",
        "medium",
    )
    prefix = TokenNetwork.objects.first().token.token_key  # type: ignore[union-attr]
    assert alert.title == f"API token {prefix} of dana used from a new network: 198.51.100.0/24"
    assert alert.fields["known_networks"] == ["203.0.113.0/24"]
    assert alert.fields["remote_addr"] == "198.51.100.7"

    get("198.51.100.8")  # known now
    get("203.0.113.9")  # back on the first network
    get("2001:db8:1:2::10")  # IPv6: a new /64
    get("2001:db8:1:2:ffff::1")  # same /64
    assert SecurityAlert.objects.count() == 2
    assert SecurityAlert.objects.order_by("-id").first().title.endswith("2001:db8:1:2::/64")  # type: ignore[union-attr]

    # Another token of the same user starts its own history.
    other = api_token_create(user=dana).token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other}")
    get("192.0.2.1")
    assert SecurityAlert.objects.count() == 2


def test_a_known_pair_costs_no_query_once_cached(make_user: Callable[..., User]) -> None:
    dana = make_user("dana", SRE_LEAD)
    token = api_token_create(user=dana).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.get(URL, REMOTE_ADDR="203.0.113.5")
    with CaptureQueriesContext(connection) as queries:
        client.get(URL, REMOTE_ADDR="203.0.113.6")
    assert not [query for query in queries.captured_queries if "opsgov_tokennetwork" in query["sql"]]
    # Loopback says nothing about where the token travelled: not recorded, never an alert.
    client.get(URL, REMOTE_ADDR="127.0.0.1")
    client.get(URL, REMOTE_ADDR="::1")
    assert TokenNetwork.objects.count() == 1
    assert not SecurityAlert.objects.exists()
    # A session-authenticated request (no token) records nothing.
    session = APIClient()
    session.force_login(dana)
    session.get(URL, REMOTE_ADDR="192.0.2.44")
    assert TokenNetwork.objects.count() == 1
