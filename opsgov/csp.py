"""Content-Security-Policy: the site-wide policy is in settings (CONTENT_SECURITY_POLICY); this module
holds the few places where a page needs more, each as narrow as it can be.

* DRF's browsable API (HTML answers of /api/v1/) renders Bootstrap templates full of ``style="..."``
  attributes. Its answers get ``style-src-attr 'unsafe-inline'`` and nothing else: inline style
  attributes can restyle the page but cannot run script, load anything (img-src and font-src still
  apply to url() in them) or read attribute values the way a <style> element's selectors can.
  Every other page, ours and the admin, has no style attribute and does not get this.
* ReDoc (/api/v1/redoc/, opsgov.api.docs) builds its styles at run time with styled-components, which
  inserts <style> elements: they carry the response's nonce (ReDoc's ``nonce`` option), so style-src
  gets ``'nonce-…'`` rather than ``'unsafe-inline'``. One stylesheet (perfect-scrollbar's, with its
  source map) is inserted while the bundle loads, before ReDoc reads that option: it is admitted by
  its hash, and so is the empty <style> it starts as (REDOC_STYLE_HASHES). Its search index runs in a
  Web Worker that the bundle starts from a blob: URL made of its own code, hence
  ``worker-src 'self' blob:`` there.
* ReDoc 2's side menu always shows the Redocly logo from cdn.redoc.ly (no option turns it off): the
  policy refuses it (img-src), so the browser never asks for it, and ReDoc hides the image that failed.
  That refusal is the only violation the API docs pages report (tests/e2e/test_csp_browser.py).
"""

from __future__ import annotations

from typing import Any

from csp.constants import NONCE, SELF, UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from rest_framework.renderers import BrowsableAPIRenderer

#: Added to the policy of DRF's browsable API pages (see the module docstring).
BROWSABLE_API_POLICY: dict[str, Any] = {"style-src-attr": [UNSAFE_INLINE]}
#: The stylesheet drf-spectacular-sidecar's ReDoc inserts before it knows the nonce, and the empty
#: <style> it starts as. Bound to the sidecar's version in constraints.txt: when an update changes
#: the stylesheet, tests/e2e/test_csp_browser.py reports the refused style with its new hash.
REDOC_STYLE_HASHES: tuple[str, ...] = (
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # "" (empty)
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",  # perfect-scrollbar's CSS
)
#: Added to the policy of the ReDoc page, with csp.decorators.csp_update (opsgov.api.urls).
REDOC_POLICY: dict[str, Any] = {"style-src": [NONCE, *REDOC_STYLE_HASHES], "worker-src": [SELF, "blob:"]}


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the browsable API's addition (its documented extension point)."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if isinstance(getattr(response, "accepted_renderer", None), BrowsableAPIRenderer):
            parts.update = {**BROWSABLE_API_POLICY, **(parts.update or {})}
        return parts
