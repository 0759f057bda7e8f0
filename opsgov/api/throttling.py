"""API throttles: per credential (a personal token, else the signed-in session) and per user.

Both are in REST_FRAMEWORK's DEFAULT_THROTTLE_CLASSES, with their rates in
DEFAULT_THROTTLE_RATES (from API_THROTTLE_RATE and API_THROTTLE_USER_RATE,
README "Configuration"). A request over either rate gets 429 with Retry-After
and a JSON body saying when to retry (opsgov.api.exceptions). Counting is
opsgov.ratelimit's fixed window in the cache: Redis in production (shared by
every worker), local memory in the embedded default.

Requests without a user are not counted here: the API answers them 401 before
any work is done. The ingestion endpoints are not DRF views and have their own
limits (incidents.ingest.handling).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from knox.models import AuthToken
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from opsgov import ratelimit


class _FixedWindowThrottle(BaseThrottle, ABC):
    """A throttle over opsgov.ratelimit; subclasses name the scope and who is counted."""

    scope = ""

    def __init__(self) -> None:
        # Read at each request (throttles are made per request), so overridden settings apply at once.
        text = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        self.rate = ratelimit.parse_rate(str(text)) if text else None
        self.verdict: ratelimit.Verdict | None = None

    @abstractmethod
    def identity(self, request: Any) -> str | None:
        """Who is counted (None: this request is not)."""

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        identity = self.identity(request)
        if identity is None:
            return True
        self.verdict = ratelimit.hit(self.scope, identity, self.rate)
        return self.verdict.allowed

    def wait(self) -> float | None:
        return self.verdict.retry_after if self.verdict else None


class CredentialRateThrottle(_FixedWindowThrottle):
    """Counts the requests made with one personal API token (knox), or else with one user's sessions."""

    scope = "api_credential"

    def identity(self, request: Any) -> str | None:
        if isinstance(request.auth, AuthToken):
            return f"token:{request.auth.token_key}"
        user = request.user
        return f"session:{user.pk}" if user and user.is_authenticated else None


class UserRateThrottle(_FixedWindowThrottle):
    """Counts all of one user's requests, whatever token or session they come with."""

    scope = "api_user"

    def identity(self, request: Any) -> str | None:
        user = request.user
        return f"user:{user.pk}" if user and user.is_authenticated else None
