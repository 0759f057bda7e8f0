"""Routes of the ping grammar (opsgov.pings), mounted under /ping/: public, the uuid in the path is the token."""

from django.urls import path

from . import pings

urlpatterns = [
    path("<uuid:uuid>", pings.ping_view, name="ping"),
    path("<uuid:uuid>/", pings.ping_view),
    path("<uuid:uuid>/<str:action>", pings.ping_view, name="ping-action"),
    path("<uuid:uuid>/<str:action>/", pings.ping_view),
]
