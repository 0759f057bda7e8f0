"""Routes of the monitoring API that opsgov.api.urls includes by name (under /api/v1/): the alert-rule catalog and
the SLOs. The serializers and viewsets are in the sub-packages (catalog.api, slos.api); the checks' routes are
monitoring.check_api."""
