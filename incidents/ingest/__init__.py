"""Alert ingestion: the endpoints (Alertmanager webhooks, PagerDuty Events API v2), storing accepted events and
processing them into incidents (routing, the sender's clock, SLO and internal alerts), and the dead letters."""
