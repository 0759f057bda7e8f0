"""Content-Security-Policy: the site-wide policy is in settings (CONTENT_SECURITY_POLICY); this module
holds the few places where a page needs more, each as narrow as it can be.

* DRF's browsable API (HTML answers of /api/v1/) renders Bootstrap templates full of ``style="..."``
  attributes. Its answers get ``style-src-attr 'unsafe-inline'`` and nothing else: inline style
  attributes can restyle the page but cannot run script, load anything (img-src and font-src still
  apply to url() in them) or read attribute values the way a <style> element's selectors can.
  Every other page, ours and the admin, has no style attribute and does not get this.
* ReDoc (/api/v1/redoc/, opsgov.api.docs) builds its styles at run time with styled-components, which
  inserts <style> elements: they carry the response's nonce (ReDoc's ``nonce`` option), so style-src
  gets ``'nonce-…'`` rather than ``'unsafe-inline'``. Its search index runs in a Web Worker that the
  bundle starts from a blob: URL made of its own code, hence ``worker-src 'self' blob:`` there.
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
#: Added to the policy of the ReDoc page, with csp.decorators.csp_update (opsgov.api.urls).
REDOC_POLICY: dict[str, Any] = {"style-src": [NONCE], "worker-src": [SELF, "blob:"]}


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the browsable API's addition (its documented extension point)."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if isinstance(getattr(response, "accepted_renderer", None), BrowsableAPIRenderer):
            parts.update = {**BROWSABLE_API_POLICY, **(parts.update or {})}
        return parts
