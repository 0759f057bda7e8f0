"""REST API of the monitoring app (mounted under /api/v1/): SLOs and SLI push, the alert-rule catalog."""
