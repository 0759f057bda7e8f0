"""HTML routes of the SLO pages (included by monitoring.urls, namespace "monitoring")."""

from django.urls import path

from . import slo_views

urlpatterns = [
    path("slos/", slo_views.slo_list_view, name="slo-list"),
    path("slos/<uuid:uuid>/", slo_views.slo_detail_view, name="slo-detail"),
]
