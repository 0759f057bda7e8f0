"""API throttling: per personal token (or session) and per user, 429 with Retry-After, on both cache backends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from opsgov import ratelimit

from ..cache_support import CACHE_BACKENDS, early_in_a_rate_window, use_cache

pytestmark = pytest.mark.django_db
URL = "/api/v1/teams/"


@pytest.fixture
def rates(settings: Any, cache_backend: str) -> Iterator[Callable[[str | None, str | None], None]]:
    use_cache(settings, cache_backend)

    def set_rates(credential: str | None, user: str | None) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"api_credential": credential, "api_user": user},
        }

    with early_in_a_rate_window():
        yield set_rates


def token_client(user: User) -> APIClient:
    _, token = AuthToken.objects.create(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@CACHE_BACKENDS
def test_a_token_over_its_rate_gets_429_with_retry_after_and_a_clear_error(
    rates: Callable[..., None], make_user: Callable[..., User]
) -> None:
    rates("3/minute", "100/minute")
    user = make_user("scripted", "SRE Lead")
    first, second = token_client(user), token_client(user)
    assert [first.get(URL).status_code for _ in range(3)] == [200, 200, 200]
    refused = first.get(URL)
    assert refused.status_code == 429
    retry_after = int(refused["Retry-After"])
    assert 1 <= retry_after <= 60
    assert refused.json() == {
        "detail": f"Too many requests: this API's rate limit is reached; retry in {retry_after} seconds.",
        "retry_after": retry_after,
    }
    # Another token of the same user has its own count.
    assert second.get(URL).status_code == 200


@CACHE_BACKENDS
def test_the_user_rate_counts_every_token_and_session_of_one_user(
    rates: Callable[..., None], make_user: Callable[..., User]
) -> None:
    rates("100/minute", "4/minute")
    user, other = make_user("busy", "SRE Lead"), make_user("calm", "SRE Lead")
    session = Client()
    session.force_login(user)
    answers = [token_client(user).get(URL).status_code for _ in range(3)] + [session.get(URL).status_code]
    assert answers == [200, 200, 200, 200]
    assert token_client(user).get(URL).status_code == 429
    assert session.get(URL).status_code == 429
    assert token_client(other).get(URL).status_code == 200  # someone else is not held back


@CACHE_BACKENDS
def test_a_rate_set_to_off_does_not_throttle(rates: Callable[..., None], make_user: Callable[..., User]) -> None:
    rates(None, None)
    client = token_client(make_user("unlimited", "SRE Lead"))
    assert {client.get(URL).status_code for _ in range(12)} == {200}


@pytest.mark.parametrize("cache_backend", ["locmem"])
def test_unauthenticated_requests_are_refused_not_counted(rates: Callable[..., None]) -> None:
    rates("1/minute", "1/minute")
    assert {APIClient().get(URL).status_code for _ in range(3)} == {401}


def test_a_fixed_window_counts_until_it_ends(settings: Any) -> None:
    use_cache(settings, "locmem")
    rate = ratelimit.parse_rate("2/minute")
    at = 1_000_040.5  # 20.5 s into a minute window (which starts at 1_000_020)
    verdicts = [ratelimit.hit("t", "a", rate, now=at) for _ in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, False]
    assert verdicts[-1].retry_after == 40
    assert ratelimit.hit("t", "a", rate, now=at + 40).allowed  # the next window
    assert not ratelimit.peek("t", "a", rate, now=at).allowed


@pytest.mark.parametrize("text", ["many", "0/minute", "10/fortnight", "5"])
def test_a_malformed_rate_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a rate"):
        ratelimit.parse_rate(text)


def test_the_cache_being_down_lets_requests_through(settings: Any) -> None:
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    assert ratelimit.hit("t", "a", ratelimit.parse_rate("1/minute")).allowed
