"""opsgov.urls with the ingestion routes first (bench/ingest_settings.py, OPSGOV_BENCH_INGEST_URLS_FIRST).

Django tries URL patterns in order; under opsgov.urls an ingestion URL is matched
only after the API router's patterns have been tried. This measures what
resolving it first would save.
"""

from typing import cast

from django.urls import URLPattern, URLResolver, include, path

from opsgov.urls import urlpatterns as opsgov_urlpatterns

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/v1/ingest/", include("incidents.ingest.urls")),
    *cast("list[URLPattern | URLResolver]", opsgov_urlpatterns),
]
