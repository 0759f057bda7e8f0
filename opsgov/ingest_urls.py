"""The URLconf of opsgov.lean (IngestApplication and IngestHandler).

The ingestion routes only, at the paths opsgov.urls serves them.
"""

from django.urls import include, path

from opsgov.lean import INGEST_PATH_PREFIX

urlpatterns = [
    path(INGEST_PATH_PREFIX.lstrip("/"), include("incidents.ingest.urls")),
]
