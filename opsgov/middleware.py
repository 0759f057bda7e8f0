"""Request middleware: the audit trail's actor, and no NUL characters in URLs.

Login on every page is Django's own LoginRequiredMiddleware (settings); public
views opt out with @login_not_required, DRF views authenticate themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auditlog.middleware import AuditlogMiddleware
from django.core.validators import ProhibitNullCharactersValidator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils.functional import SimpleLazyObject

#: The message Django's and DRF's CharFields give for a NUL character.
NULL_CHARACTER_MESSAGE = ProhibitNullCharactersValidator.message


class AuditActorMiddleware(AuditlogMiddleware):
    """django-auditlog's middleware, with the actor resolved when the entry is written.

    DRF authenticates bearer tokens inside the view, after middleware ran, and
    then sets the user on the underlying request; resolving lazily lets API
    changes record their token's user, not an anonymous actor.
    """

    @staticmethod
    def _get_actor(request: HttpRequest) -> Any:
        return SimpleLazyObject(lambda: request.user)


class RefuseNullCharactersMiddleware:
    """Answer 400 naming the parameter when a URL argument or query parameter holds a NUL character.

    PostgreSQL cannot hold NUL in text: a lookup such as `Service.objects.get(slug="a\\x00")` fails in the
    driver (a 500), and so does a filter value. Form and serializer CharFields refuse NUL themselves
    (ProhibitNullCharactersValidator), but URL arguments go straight to `get_object()` and query parameters
    to slug, username and choice lookups that have no such validator, so the one check for every view is
    here, once the URL is resolved (the 400 names the URL argument, e.g. `slug`). Request bodies of the API
    are checked by its parsers (opsgov.api.parsers). API paths answer the API's error body
    (opsgov.api.exceptions), pages a plain 400.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: tuple[Any, ...], view_kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        fields = [name for name, value in view_kwargs.items() if isinstance(value, str) and "\x00" in value]
        if any(isinstance(value, str) and "\x00" in value for value in view_args):
            fields.append("path")
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                fields.append(name.replace("\x00", "\\x00"))
        if not fields:
            return None
        if request.path_info.startswith("/api/"):
            errors = [{"field": name, "message": str(NULL_CHARACTER_MESSAGE)} for name in fields]
            return JsonResponse({"detail": "Invalid input.", "errors": errors}, status=400)
        return HttpResponseBadRequest(
            f"{', '.join(fields)}: {NULL_CHARACTER_MESSAGE}", content_type="text/plain; charset=utf-8"
        )
