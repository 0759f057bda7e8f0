"""HTML pages of security operations (mounted under /security/, namespace "security")."""

from django.urls import path

from . import views

app_name = "security"

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path("findings/", views.finding_list_view, name="finding-list"),
    path("assets/", views.asset_list_view, name="asset-list"),
    path("alerts/", views.alert_list_view, name="alert-list"),
    path("alerts/<int:pk>/<str:action>/", views.alert_action_view, name="alert-action"),
]
