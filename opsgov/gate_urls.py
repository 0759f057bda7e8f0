"""HTML pages of the quality gates (mounted under /gates/)."""

from django.urls import path

from . import gate_views

urlpatterns = [
    path("", gate_views.gate_index, name="gate-index"),
    path("export.csv", gate_views.gates_csv, name="gate-export"),
    path("<slug:key>/", gate_views.gate_detail, name="gate-detail"),
    path("<slug:key>/evaluate/", gate_views.gate_evaluate, name="gate-evaluate"),
    path("<slug:key>/waivers/", gate_views.waiver_request, name="gate-waiver-request"),
    path("<slug:key>/waivers/<int:pk>/approve/", gate_views.waiver_approve, name="gate-waiver-approve"),
    path("<slug:key>/waivers/<int:pk>/revoke/", gate_views.waiver_revoke, name="gate-waiver-revoke"),
]
