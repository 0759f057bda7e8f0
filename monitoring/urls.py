"""HTML pages of monitoring (mounted under /monitoring/, namespace "monitoring")."""

from django.urls import include, path

app_name = "monitoring"

urlpatterns = [
    path("", include("monitoring.slos.urls")),
    path("", include("monitoring.catalog.urls")),
    path("", include("monitoring.checks.urls")),
]
