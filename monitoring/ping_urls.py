"""Routes of the heartbeat pings (mounted under /ping/ by opsgov.urls; public: the uuid is the token)."""

from django.urls import path

from . import ping_views
from .models import PingKind

urlpatterns = [
    path("<uuid:uuid>", ping_views.ping_view, name="heartbeat-ping"),
    path("<uuid:uuid>/", ping_views.ping_view),
    path("<uuid:uuid>/start", ping_views.ping_view, {"kind": PingKind.START}, name="heartbeat-ping-start"),
    path("<uuid:uuid>/start/", ping_views.ping_view, {"kind": PingKind.START}),
    path("<uuid:uuid>/fail", ping_views.ping_view, {"kind": PingKind.FAIL}, name="heartbeat-ping-fail"),
    path("<uuid:uuid>/fail/", ping_views.ping_view, {"kind": PingKind.FAIL}),
]
