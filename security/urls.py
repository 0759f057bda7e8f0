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
    path("access-reviews/", views.access_review_list_view, name="access-review-list"),
    path("access-reviews/<int:pk>/", views.access_review_detail_view, name="access-review-detail"),
    path("access-reviews/<int:pk>/report/", views.access_review_report_view, name="access-review-report"),
    path("training/", views.training_view, name="training"),
    path("assessments/", views.assessment_list_view, name="assessment-list"),
]
