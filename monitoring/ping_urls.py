"""Routes of the heartbeat pings (mounted under /ping/ by opsgov.urls; public: the uuid is the token)."""

from django.urls import path

from .checks import pings
from .models import PingKind

urlpatterns = [
    path("<uuid:uuid>", pings.ping_view, name="heartbeat-ping"),
    path("<uuid:uuid>/", pings.ping_view),
    path("<uuid:uuid>/start", pings.ping_view, {"kind": PingKind.START}, name="heartbeat-ping-start"),
    path("<uuid:uuid>/start/", pings.ping_view, {"kind": PingKind.START}),
    path("<uuid:uuid>/fail", pings.ping_view, {"kind": PingKind.FAIL}, name="heartbeat-ping-fail"),
    path("<uuid:uuid>/fail/", pings.ping_view, {"kind": PingKind.FAIL}),
]
