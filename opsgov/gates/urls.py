"""HTML pages of the quality gates (mounted under /gates/)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.gate_index, name="gate-index"),
    path("export.csv", views.gates_csv, name="gate-export"),
    path("<slug:key>/", views.gate_detail, name="gate-detail"),
    path("<slug:key>/evaluate/", views.gate_evaluate, name="gate-evaluate"),
    path("<slug:key>/waivers/", views.waiver_request, name="gate-waiver-request"),
    path("<slug:key>/waivers/<int:pk>/approve/", views.waiver_approve, name="gate-waiver-approve"),
    path("<slug:key>/waivers/<int:pk>/revoke/", views.waiver_revoke, name="gate-waiver-revoke"),
]
