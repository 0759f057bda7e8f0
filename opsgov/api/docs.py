"""The API docs pages, Swagger UI and ReDoc, served from drf-spectacular-sidecar's static files under
the site's Content-Security-Policy (opsgov.csp): no inline script, no inline style, nothing fetched
from outside the machine.

* Swagger UI: drf-spectacular's split view, whose start-up script is a second request to the same URL
  (``?script``) instead of an inline <script>; our template drops the inline <style> for a static
  stylesheet.
* ReDoc: our template drops drf-spectacular's Google Fonts <link> and inline <style> (ReDoc falls back
  to the system fonts) and starts ReDoc from a static script (static/opsgov/redoc-init.js) that passes
  the response's CSP nonce on to the <style> elements ReDoc inserts.
"""

from __future__ import annotations

from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView


class SwaggerDocsView(SpectacularSwaggerSplitView):
    template_name = "api/swagger_ui.html"


class RedocDocsView(SpectacularRedocView):
    template_name = "api/redoc.html"
