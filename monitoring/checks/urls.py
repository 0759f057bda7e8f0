"""HTML routes of the synthetic checks (included by monitoring.urls, namespace "monitoring").

The views of one check serve both kinds: each route passes them the pages of its kind.
"""

from django.urls import path

from . import views

HTTP = {"pages": views.HTTP_PAGES}
HEARTBEAT = {"pages": views.HEARTBEAT_PAGES}

urlpatterns = [
    path("checks/", views.check_list_view, name="check-list"),
    path("checks/http/new/", views.create_view, HTTP, name="http-check-create"),
    path("checks/http/<uuid:uuid>/", views.detail_view, HTTP, name="http-check-detail"),
    path("checks/http/<uuid:uuid>/edit/", views.edit_view, HTTP, name="http-check-edit"),
    path("checks/http/<uuid:uuid>/<slug:action>/", views.action_view, HTTP, name="http-check-action"),
    path("checks/heartbeats/new/", views.create_view, HEARTBEAT, name="heartbeat-create"),
    path("checks/heartbeats/<uuid:uuid>/", views.detail_view, HEARTBEAT, name="heartbeat-detail"),
    path("checks/heartbeats/<uuid:uuid>/edit/", views.edit_view, HEARTBEAT, name="heartbeat-edit"),
    path("checks/heartbeats/<uuid:uuid>/<slug:action>/", views.action_view, HEARTBEAT, name="heartbeat-action"),
]
