"""Routes of the ingestion endpoints (mounted under /api/v1/ingest/)."""

urlpatterns: list = []
