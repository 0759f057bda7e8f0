"""The "API tokens" page: a signed-in user lists, creates and revokes their own personal API tokens.

A new token's text is rendered once, in the answer to the POST that created it
(never put in the session, a message or a redirect), and cannot be shown again.
Writes go through opsgov.tokens.services.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from ..errors import DomainError
from ..policy import get_policy
from .services import CreatedToken, api_token_create, api_token_revoke, api_tokens_of, is_expired


class TokenForm(forms.Form):
    """Create a token: an optional expiry in days, at most the policy's maximum (empty: the policy's default)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        policy = get_policy().api_tokens
        self.fields["expires_in_days"] = forms.IntegerField(
            required=False,
            min_value=1,
            max_value=policy.max_ttl_days,
            label="Expires in (days)",
            help_text=f"Leave empty for the policy's {policy.default_ttl_days} days; at most {policy.max_ttl_days}.",
            widget=forms.NumberInput(attrs={"placeholder": policy.default_ttl_days}),
        )


def _signed_in(request: HttpRequest) -> AbstractBaseUser:
    """The request's user; LoginRequiredMiddleware lets no anonymous request reach these views."""
    user = request.user
    assert isinstance(user, AbstractBaseUser)
    return user


@never_cache
@require_http_methods(["GET", "POST"])
def api_tokens_view(request: HttpRequest) -> HttpResponse:
    user = _signed_in(request)
    form = TokenForm(request.POST or None)
    created: CreatedToken | None = None
    if request.method == "POST" and form.is_valid():
        try:
            created = api_token_create(user=user, expires_in_days=form.cleaned_data["expires_in_days"])
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            form = TokenForm()
    now = timezone.now()
    tokens = [{"token": token, "expired": is_expired(token, now=now)} for token in api_tokens_of(user)]
    context = {"form": form, "created": created, "tokens": tokens, "policy": get_policy().api_tokens}
    return render(request, "opsgov/api_tokens.html", context)


@require_POST
def api_token_revoke_view(request: HttpRequest, token_key: str) -> HttpResponseRedirect:
    if api_token_revoke(user=_signed_in(request), token_key=token_key):
        messages.success(request, f"Token {token_key}… revoked: it no longer authenticates.")
    else:
        messages.error(request, "No token of yours has that prefix; it may have expired or been revoked already.")
    return redirect("api-tokens")
