"""Ingestion limits: repeated bad tokens from one address get 429; a valid token never does; a policy cap is a 503."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from incidents.models import RawEvent
from opsgov.policy import clear_policy_cache

from ..cache_support import CACHE_BACKENDS, early_in_a_rate_window, use_cache
from .test_ingest_support import alertmanager_url, make_integration, pagerduty_url, payload, post

pytestmark = pytest.mark.django_db
BAD = "x" * 43  # shaped like a token, matching no integration
EVENTS_V2 = "/api/v1/ingest/v2/enqueue"


@pytest.fixture
def limits(settings: Any, cache_backend: str) -> Iterator[Any]:
    use_cache(settings, cache_backend)
    settings.INGEST_BAD_TOKEN_RATE = "3/minute"
    with early_in_a_rate_window():
        yield settings


@CACHE_BACKENDS
def test_repeated_bad_tokens_from_one_address_get_429_but_a_valid_token_from_it_never_does(limits: Any) -> None:
    integration, token = make_integration("alertmanager")
    firing = payload("alertmanager-v4-firing")
    refused = [post(alertmanager_url(BAD), firing).status_code for _ in range(2)]
    refused.append(post("/api/v1/ingest/alertmanager/", firing).status_code)  # no token at all counts too
    assert refused == [403, 403, 401]
    limited = post(alertmanager_url(BAD), firing)
    assert limited.status_code == 429
    retry_after = int(limited["Retry-After"])
    assert 1 <= retry_after <= 60
    body = limited.json()
    assert body["status"] == "too many requests"
    assert body["retry_after"] == retry_after
    assert "Too many requests with a refused token from this address" in body["message"]
    assert "The token matches no integration." in body["message"]
    # The same address with a valid token: accepted, however many refusals it had.
    for _ in range(3):
        assert post(alertmanager_url(token), firing).status_code == 202
    assert RawEvent.objects.filter(integration=integration).count() == 3
    # A valid token with an invalid body is its 400, not a 429.
    assert post(alertmanager_url(token), {"version": "4"}).status_code == 400
    # Another address is counted apart.
    assert post(alertmanager_url(BAD), firing, REMOTE_ADDR="192.0.2.7").status_code == 403


@CACHE_BACKENDS
def test_unknown_events_v2_routing_keys_count_as_bad_tokens(limits: Any) -> None:
    _, token = make_integration("pagerduty")
    event = payload("pagerduty-v2-trigger")
    answers = [post(EVENTS_V2, {**event, "routing_key": BAD}).status_code for _ in range(4)]
    assert answers == [400, 400, 400, 429]
    assert post(EVENTS_V2, {**event, "routing_key": token}).status_code == 202
    assert post(pagerduty_url(token), event).status_code == 202


@pytest.mark.parametrize("cache_backend", ["locmem"])
def test_the_bad_token_limit_can_be_turned_off(limits: Any) -> None:
    limits.INGEST_BAD_TOKEN_RATE = None
    assert {post(alertmanager_url(BAD), payload("alertmanager-v4-firing")).status_code for _ in range(6)} == {403}


@CACHE_BACKENDS
def test_an_integration_over_the_policy_cap_gets_503_with_retry_after_and_nothing_is_stored(
    limits: Any, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[incidents]\ningest_max_events_per_minute = 2\n")
    limits.OPSGOV_POLICY = str(policy)
    clear_policy_cache()
    integration, token = make_integration("alertmanager")
    firing = payload("alertmanager-v4-firing")
    assert [post(alertmanager_url(token), firing).status_code for _ in range(2)] == [202, 202]
    over = post(alertmanager_url(token), firing)
    assert over.status_code == 503
    assert 1 <= int(over["Retry-After"]) <= 60
    assert over.json()["retry_after"] == int(over["Retry-After"])
    assert "over its limit of 2 events a minute" in over.json()["message"]
    assert RawEvent.objects.filter(integration=integration).count() == 2
