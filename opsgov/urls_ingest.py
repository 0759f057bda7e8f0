"""URLconf of opsgov.settings_ingest: ingestion, heartbeat pings, hosts' patch reports and health checks, nothing else.

The ingestion, ping and patch-report routes are opsgov.urls's, at the same paths, so the
proxy (deploy/nginx/opsgov.conf) sends /api/v1/ingest/, /ping/ and /api/v1/maintenance/patch-reports/ to the
`ingest` service and everything else to `web` without rewriting a URL: the
machine-to-machine traffic does not queue behind page views. Any other path is a 404 here.
"""

from django.urls import include, path

from . import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Change events from CI (maintenance), before incidents' routes: "pagerduty/<token>/enqueue" would take them.
    path("api/v1/ingest/", include("maintenance.ingest.urls")),
    path("api/v1/ingest/", include("incidents.ingest.urls")),
    # Pings (opsgov.pings: heartbeats, backup jobs): public, the uuid in the path is the token (as in opsgov.urls).
    path("ping/", include("opsgov.ping_urls")),
    # Hosts' patch reports (maintenance): machine to machine, a host token in Authorization, daily from every host.
    path("api/v1/", include("maintenance.api.report_urls")),
]
