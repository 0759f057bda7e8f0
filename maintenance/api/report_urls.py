"""The hosts' patch-report route alone, for the ingest service's URLconf (opsgov.urls_ingest, under /api/v1/).

The same path, view and name as in maintenance.api.urls (the web service's API), so that the proxy can send it
to either service without rewriting it.
"""

from django.urls import URLPattern, path

from . import views

urlpatterns: list[URLPattern] = [
    path("maintenance/patch-reports/", views.PatchReportView.as_view(), name="api-patch-report"),
]
