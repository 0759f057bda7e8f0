"""HTML routes of the alert-rule catalog and runbooks (included by monitoring/urls.py, namespace "monitoring")."""

from django.urls import path

from . import views

urlpatterns = [
    path("alert-rules/", views.alert_rule_list_view, name="alert-rule-list"),
    path("alert-rules/import/", views.alert_rule_import_view, name="alert-rule-import"),
    path("alert-rules/<int:pk>/", views.alert_rule_detail_view, name="alert-rule-detail"),
    path("runbooks/", views.runbook_list_view, name="runbook-list"),
    path("runbooks/new/", views.runbook_create_view, name="runbook-create"),
    path("runbooks/<slug:slug>/", views.runbook_detail_view, name="runbook-detail"),
    path("runbooks/<slug:slug>/edit/", views.runbook_edit_view, name="runbook-edit"),
    path("runbooks/<slug:slug>/review/", views.runbook_review_view, name="runbook-review"),
]
