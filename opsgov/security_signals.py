"""opsgov's own security signals, published through opsgov.events for the security app's alert queue.

Connected in opsgov.apps next to the audit trail's receivers: a failed login, an account locked
out (django-axes), and an API request refused for lack of permission (opsgov.api.exceptions).
What counts as "repeated" or a "burst" is the subscriber's business (security.signals).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.utils import timezone

from .audit import remote_addr_of
from .events import SecuritySignal, SecuritySignalKind, publish_security_signal


def publish(kind: SecuritySignalKind, *, request: Any, username: str, details: dict[str, Any] | None = None) -> None:
    publish_security_signal(
        SecuritySignal(
            kind=kind,
            at=timezone.now(),
            username=username[:150],
            remote_addr=(remote_addr_of(request) or "") if request is not None else "",
            details=details or {},
        )
    )


def on_user_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    field = get_user_model().USERNAME_FIELD
    username = str(credentials.get(field) or credentials.get("username") or "")
    publish("login_failed", request=request, username=username)


def on_user_locked_out(sender: Any, request: HttpRequest | None, username: str | None, **kwargs: Any) -> None:
    publish("locked_out", request=request, username=username or "")
