"""The Content-Security-Policy header (django-csp, opsgov.csp) on every kind of page, and the markup
that lets the pages work under it: no inline script, no inline style, nothing from another origin.

The browser side (no violation reported, htmx and the docs pages working) is tests/e2e/test_csp_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.test import Client

from opsgov.csp import REDOC_STYLE_HASHES
from opsgov.roles import SRE_LEAD

pytestmark = pytest.mark.django_db

SITE_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def policy(response: HttpResponseBase) -> dict[str, str]:
    """The response's Content-Security-Policy as {directive: sources}."""
    header = response["Content-Security-Policy"]
    directives = [part.strip().split(" ", 1) for part in header.split(";") if part.strip()]
    return {name: value for name, value in ((d[0], d[1] if len(d) > 1 else "") for d in directives)}


def text(response: HttpResponseBase) -> str:
    assert isinstance(response, HttpResponse)
    return response.content.decode()


@pytest.fixture
def signed_in(client: Client, make_user: Callable[..., User]) -> Client:
    admin = make_user("lead", SRE_LEAD, is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


@pytest.mark.parametrize(
    "url",
    ["/", "/incidents/", "/services/", "/policy/", "/admin/", "/admin/auth/user/", "/api/v1/docs/", "/api/v1/schema/"],
)
def test_every_page_carries_the_site_policy(signed_in: Client, url: str) -> None:
    response = signed_in.get(url)
    assert response.status_code == 200
    assert policy(response) == SITE_POLICY


def test_the_login_page_and_redirects_carry_it_too(client: Client) -> None:
    assert policy(client.get("/accounts/login/")) == SITE_POLICY
    redirect = client.get("/incidents/")
    assert redirect.status_code == 302
    assert policy(redirect) == SITE_POLICY


def test_swagger_ui_starts_from_a_script_of_its_own_not_an_inline_one(signed_in: Client) -> None:
    page = text(signed_in.get("/api/v1/docs/"))
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, flags=re.S)
    assert scripts, "Swagger UI's scripts"
    assert all("src=" in attributes and not body.strip() for attributes, body in scripts)
    assert "<style" not in page and "style=" not in page
    assert '<script src="/api/v1/docs/?script="></script>' in page
    start = signed_in.get("/api/v1/docs/?script=")
    assert start.status_code == 200
    assert start["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in text(start)
    assert '"validatorUrl": null' in text(start)  # the schema is never sent to swagger.io


def test_redoc_loads_no_web_fonts_and_gives_its_styles_the_responses_nonce(signed_in: Client) -> None:
    response = signed_in.get("/api/v1/redoc/")
    page = text(response)
    assert "fonts.googleapis" not in page and "fonts.gstatic" not in page
    assert "<style" not in page and "style=" not in page
    assert not re.search(r"https?://", page), "nothing from another origin"
    nonce = re.search(r'<script src="/static/opsgov/redoc-init\.js" nonce="([^"]+)"></script>', page)
    assert nonce, page
    rules = policy(response)
    hashes = " ".join(REDOC_STYLE_HASHES)
    assert rules == {**SITE_POLICY, "style-src": f"'self' 'nonce-{nonce[1]}' {hashes}", "worker-src": "'self' blob:"}
    # A fresh nonce for every response.
    assert policy(signed_in.get("/api/v1/redoc/"))["style-src"] != rules["style-src"]


def test_only_the_browsable_api_gets_inline_style_attributes(signed_in: Client) -> None:
    browsable = signed_in.get("/api/v1/services/", HTTP_ACCEPT="text/html")
    assert browsable.status_code == 200
    assert "style=" in text(browsable)
    assert "<style" not in text(browsable), "no inline <style> element (templates/rest_framework/api.html)"
    assert policy(browsable) == {**SITE_POLICY, "style-src-attr": "'unsafe-inline'"}
    assert policy(signed_in.get("/api/v1/services/", HTTP_ACCEPT="application/json")) == SITE_POLICY


def test_the_templates_have_no_inline_script_style_or_event_handler() -> None:
    """Every page template (e-mails aside: mail clients need inline styles, and CSP does not apply there)."""
    offences = []
    for path in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        if "email" in path.parts:
            continue
        source = re.sub(r"\{#.*?#\}|\{% comment %\}.*?\{% endcomment %\}", "", path.read_text(), flags=re.S)
        for pattern in (r"<script(?![^>]*\bsrc=)[^>]*>", r"<style\b", r"\sstyle=", r"\son[a-z]+=", r"javascript:"):
            offences += [f"{path}: {match}" for match in re.findall(pattern, source)]
    assert offences == []


def test_htmx_is_told_not_to_insert_styles_or_evaluate_code(signed_in: Client) -> None:
    page = text(signed_in.get("/"))
    assert """<meta name="htmx-config" content='{"includeIndicatorStyles": false, "allowEval": false}'>""" in page
    css = Path(settings.BASE_DIR, "static", "opsgov", "opsgov.css").read_text()
    assert ".htmx-indicator { opacity: 0; }" in css
