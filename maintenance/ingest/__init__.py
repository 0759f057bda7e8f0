"""PagerDuty change events from CI (mounted under /api/v1/ingest/ before incidents' ingestion routes)."""
