"""The SLO API: SLOs and the SLI push intake (routed by monitoring.api.slo_urls under /api/v1/)."""
