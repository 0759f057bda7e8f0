"""Which URLs a runbook may link to or show, decided in one place.

* A runbook **link** (an alert rule's ``runbook_url``, kept when it does not name an opsgov runbook)
  is an absolute http or https URL with a host: ``//host/...`` (scheme-relative), relative paths,
  ``javascript:`` and other schemes are refused, and so is any URL with whitespace, a control
  character or a backslash, which browsers rewrite before deciding where a link goes (``/\\evil``
  and ``/<tab>/evil`` both lead off-site).
* An **image** in a runbook's Markdown is shown only when it is opsgov's own: a relative path, or an
  absolute URL on OPSGOV_BASE_URL's origin. Any other image would be fetched from elsewhere by every
  reader's browser (a tracking pixel, or a page that changes under the reviewer), and the site's
  Content-Security-Policy (img-src 'self' data:) refuses it anyway; opsgov.rendering turns it into
  a link instead (is_own_url is core's, shared with every rendered Markdown).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from opsgov.rendering import UNSAFE_URL_CHARACTER as _UNSAFE_CHARACTER
from opsgov.rendering import is_own_url

__all__ = ["is_absolute_http_url", "is_own_url", "validate_runbook_link"]


def is_absolute_http_url(url: str) -> bool:
    """Whether `url` is an absolute http(s) URL with a host, and nothing a browser would rewrite."""
    if not url or _UNSAFE_CHARACTER.search(url):
        return False
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host)


def validate_runbook_link(value: str) -> None:
    """Model and form validator of runbook links (see the module docstring)."""
    if value and not is_absolute_http_url(value):
        raise ValidationError(
            "%(value)r is not an absolute http(s) URL such as https://wiki.example.com/runbooks/db-failover.",
            code="invalid_runbook_link",
            params={"value": value},
        )
