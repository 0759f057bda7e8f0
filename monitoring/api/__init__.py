"""REST API of the monitoring app: SLOs and the SLI push intake (mounted under /api/v1/)."""
