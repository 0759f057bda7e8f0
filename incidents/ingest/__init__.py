"""Alert ingestion endpoints: Alertmanager webhooks and PagerDuty Events API v2."""
