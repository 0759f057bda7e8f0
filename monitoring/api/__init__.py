"""REST API of the monitoring app (mounted under /api/v1/)."""
