"""Change-event routes, mounted under /api/v1/ingest/ before incidents.ingest.urls (whose
``pagerduty/<token>/enqueue`` would otherwise read "change" as a token). With and without a trailing
slash: a POST must never be answered with an APPEND_SLASH redirect."""

from django.urls import URLPattern, path, re_path

from . import views

urlpatterns: list[URLPattern] = [
    path("pagerduty/change/enqueue", views.change_enqueue, name="ingest-pagerduty-change"),
    path("pagerduty/v2/change/enqueue", views.change_enqueue, name="ingest-pagerduty-v2-change"),
    path("pagerduty/<str:token>/change/enqueue", views.change_enqueue, name="ingest-pagerduty-change-token"),
    re_path(r"^pagerduty/(?:v2/)?change/enqueue/$", views.change_enqueue),
    re_path(r"^pagerduty/(?P<token>[^/]+)/change/enqueue/$", views.change_enqueue),
]
