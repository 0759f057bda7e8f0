"""Login throttling and lockout (django-axes): the backend, the lockout page and unlocking.

After LOGIN_FAILURE_LIMIT failed logins for one username (settings; 20 by default) the account is
locked for LOGIN_LOCKOUT_MINUTES after the last failure, whatever the address the attempts come
from. Lockouts and unlocks are audit rows (opsgov.audit); the Security Lead sees the attempts in
the admin (Axes' pages) and unlocks there or with `manage.py unlock_account USERNAME`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from . import audit


class LockoutBackend(AxesStandaloneBackend):
    """Axes' gatekeeper, first in AUTHENTICATION_BACKENDS.

    Every login over HTTP (the login page, the admin's) passes its request and is checked. An
    `authenticate()` without a request is not a login from the network (Django's test client's
    `login()`, a shell): Axes would refuse it with an error, so it is left to the next backend.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def unlocks_at(username: str, request: HttpRequest | None = None) -> datetime | None:
    """When the lockout of `username` ends: the last failure plus the cool-off."""
    cool_off = get_cool_off(request)
    if cool_off is None:
        return None
    last = AccessAttempt.objects.filter(username=username).order_by("-attempt_time").first()
    start = last.attempt_time if last is not None else timezone.now()
    return start + cool_off


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """The answer to a locked account's login (AXES_LOCKOUT_CALLABLE): says so, and when it unlocks."""
    username = get_client_username(request, credentials) or ""
    context = {
        "username": username,
        "unlocks_at": unlocks_at(username, request) if username else None,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
    }
    return render(
        request, "registration/locked_out.html", context, status=getattr(settings, "AXES_HTTP_RESPONSE_CODE", 429)
    )


def unlock_account(*, username: str, actor: Any = None, request: HttpRequest | None = None, via: str) -> int:
    """Lift the lockout of `username` (its failed-attempt records go) and audit who did it."""
    removed = reset(username=username)
    user_model = get_user_model()
    user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()
    audit.record_event(
        audit.UNLOCKED,
        request=request,
        actor=actor,
        target=user,
        target_repr=username,
        details={"username": username, "attempt_records_removed": removed, "via": via},
    )
    return int(removed)
