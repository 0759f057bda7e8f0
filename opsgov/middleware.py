"""Request middleware: the audit trail's actor.

Login on every page is Django's own LoginRequiredMiddleware (settings); public
views opt out with @login_not_required, DRF views authenticate themselves.
"""

from __future__ import annotations

from typing import Any

from auditlog.middleware import AuditlogMiddleware
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


class AuditActorMiddleware(AuditlogMiddleware):
    """django-auditlog's middleware, with the actor resolved when the entry is written.

    DRF authenticates bearer tokens inside the view, after middleware ran, and
    then sets the user on the underlying request; resolving lazily lets API
    changes record their token's user, not an anonymous actor.
    """

    @staticmethod
    def _get_actor(request: HttpRequest) -> Any:
        return SimpleLazyObject(lambda: request.user)
