"""The SLO API: SLOs and the SLI push intake (routed by monitoring.api.urls under /api/v1/)."""
