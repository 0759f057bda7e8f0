"""Routes of the ingestion endpoints (mounted under /api/v1/ingest/).

Each endpoint takes the integration token in the path or, on the token-less
routes, in an `Authorization: Bearer` header; the Events v2 token-less routes
also take it from the body's `routing_key`, as PagerDuty's own endpoint does
(incidents.ingest.handling.pagerduty says which wins). `v2/enqueue` and
`pagerduty/v2/enqueue` mirror PagerDuty's https://events.pagerduty.com/v2/enqueue,
so that a sender's URL only changes its host and prefix.

The named routes are the canonical ones (Integration.ingest_path reverses them);
the unnamed ones accept the same URL without (or with) the trailing slash, because
a POST must never be answered with an APPEND_SLASH redirect (clients would re-send
it as a GET, or not at all). The `pagerduty/v2/...` routes come before
`pagerduty/<token>/...`, whose token segment would otherwise take "v2".
"""

from django.urls import URLPattern, path, re_path

from . import views

urlpatterns: list[URLPattern] = [
    path("alertmanager/<str:token>/", views.alertmanager, name="ingest-alertmanager"),
    path("alertmanager/", views.alertmanager, name="ingest-alertmanager-bearer"),
    re_path(r"^alertmanager/(?P<token>[^/]+)$", views.alertmanager),
    re_path(r"^alertmanager$", views.alertmanager),
    path("v2/enqueue", views.pagerduty, name="ingest-events-v2"),
    path("pagerduty/v2/enqueue", views.pagerduty, name="ingest-pagerduty-v2"),
    re_path(r"^(?:pagerduty/)?v2/enqueue/$", views.pagerduty),
    path("pagerduty/<str:token>/enqueue", views.pagerduty, name="ingest-pagerduty"),
    path("pagerduty/enqueue", views.pagerduty, name="ingest-pagerduty-bearer"),
    re_path(r"^pagerduty/(?P<token>[^/]+)/enqueue/$", views.pagerduty),
    re_path(r"^pagerduty/enqueue/$", views.pagerduty),
]
