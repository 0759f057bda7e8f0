"""HTML routes of the synthetic checks (included by monitoring.urls, namespace "monitoring")."""

from django.urls import path

from . import check_views

urlpatterns = [
    path("checks/", check_views.check_list_view, name="check-list"),
    path("checks/http/new/", check_views.http_check_create_view, name="http-check-create"),
    path("checks/http/<uuid:uuid>/", check_views.http_check_detail_view, name="http-check-detail"),
    path("checks/http/<uuid:uuid>/edit/", check_views.http_check_edit_view, name="http-check-edit"),
    path("checks/http/<uuid:uuid>/<slug:action>/", check_views.http_check_action_view, name="http-check-action"),
    path("checks/heartbeats/new/", check_views.heartbeat_create_view, name="heartbeat-create"),
    path("checks/heartbeats/<uuid:uuid>/", check_views.heartbeat_detail_view, name="heartbeat-detail"),
    path("checks/heartbeats/<uuid:uuid>/edit/", check_views.heartbeat_edit_view, name="heartbeat-edit"),
    path(
        "checks/heartbeats/<uuid:uuid>/<slug:action>/",
        check_views.heartbeat_action_view,
        name="heartbeat-action",
    ),
]
