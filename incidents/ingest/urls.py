"""Routes of the ingestion endpoints (mounted under /api/v1/ingest/).

Each endpoint takes the integration token in the path or, on the token-less
route, in an `Authorization: Bearer` header. The named routes are the canonical
ones (Integration.ingest_path reverses them); the unnamed ones accept the same
URL without (or with) the trailing slash, because a POST must never be answered
with an APPEND_SLASH redirect (clients would re-send it as a GET, or not at all).
"""

from django.urls import URLPattern, path, re_path

from . import views

urlpatterns: list[URLPattern] = [
    path("alertmanager/<str:token>/", views.alertmanager, name="ingest-alertmanager"),
    path("alertmanager/", views.alertmanager, name="ingest-alertmanager-bearer"),
    re_path(r"^alertmanager/(?P<token>[^/]+)$", views.alertmanager),
    re_path(r"^alertmanager$", views.alertmanager),
    path("pagerduty/<str:token>/enqueue", views.pagerduty, name="ingest-pagerduty"),
    path("pagerduty/enqueue", views.pagerduty, name="ingest-pagerduty-bearer"),
    re_path(r"^pagerduty/(?P<token>[^/]+)/enqueue/$", views.pagerduty),
    re_path(r"^pagerduty/enqueue/$", views.pagerduty),
]
