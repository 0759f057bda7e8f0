"""URLconf of opsgov.settings_ingest: the ingestion endpoints and the health checks, nothing else.

The ingestion routes are opsgov.urls's, at the same paths, so a proxy can send
/api/v1/ingest/ to the `ingest` service and everything else to `web` without
rewriting a URL. Any other path is a 404 here.
"""

from django.urls import include, path

from . import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/v1/ingest/", include("incidents.ingest.urls")),
]
