"""HTML routes of the synthetic checks (included by monitoring.urls, namespace "monitoring").

The views of one check serve both kinds: each route passes them the pages of its kind.
"""

from django.urls import path

from . import check_views

HTTP = {"pages": check_views.HTTP_PAGES}
HEARTBEAT = {"pages": check_views.HEARTBEAT_PAGES}

urlpatterns = [
    path("checks/", check_views.check_list_view, name="check-list"),
    path("checks/http/new/", check_views.create_view, HTTP, name="http-check-create"),
    path("checks/http/<uuid:uuid>/", check_views.detail_view, HTTP, name="http-check-detail"),
    path("checks/http/<uuid:uuid>/edit/", check_views.edit_view, HTTP, name="http-check-edit"),
    path("checks/http/<uuid:uuid>/<slug:action>/", check_views.action_view, HTTP, name="http-check-action"),
    path("checks/heartbeats/new/", check_views.create_view, HEARTBEAT, name="heartbeat-create"),
    path("checks/heartbeats/<uuid:uuid>/", check_views.detail_view, HEARTBEAT, name="heartbeat-detail"),
    path("checks/heartbeats/<uuid:uuid>/edit/", check_views.edit_view, HEARTBEAT, name="heartbeat-edit"),
    path("checks/heartbeats/<uuid:uuid>/<slug:action>/", check_views.action_view, HEARTBEAT, name="heartbeat-action"),
]
