"""HTML routes of the SLO pages (included by monitoring.urls, namespace "monitoring")."""

from django.urls import path

from . import views

urlpatterns = [
    path("slos/", views.slo_list_view, name="slo-list"),
    path("slos/<uuid:uuid>/", views.slo_detail_view, name="slo-detail"),
]
