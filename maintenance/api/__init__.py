"""The maintenance API (routed by maintenance.api.urls under /api/v1/maintenance/)."""
