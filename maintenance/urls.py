"""HTML pages of maintenance (mounted under /maintenance/, namespace "maintenance")."""

from django.urls import path

from . import views

app_name = "maintenance"

urlpatterns = [
    path("", views.calendar_view, name="calendar"),
    path("calendar.ics", views.calendar_feed, name="calendar-feed"),
    path("changes/", views.change_list, name="change-list"),
    path("changes/<uuid:uuid>/", views.change_detail, name="change-detail"),
    path("hosts/", views.host_list, name="host-list"),
    path("hosts/<uuid:uuid>/", views.host_detail, name="host-detail"),
    path("logs/", views.log_list, name="log-list"),
]
