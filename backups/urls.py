"""HTML pages of backups & DR (mounted under /backups/ by opsgov.urls, namespace "backups")."""

from django.urls import path

from . import views

app_name = "backups"

urlpatterns = [
    path("", views.overview_view, name="overview"),
    path("jobs/", views.job_list_view, name="job-list"),
    path("jobs/<int:pk>/", views.job_detail_view, name="job-detail"),
    path("restore-tests/", views.restore_list_view, name="restore-list"),
    path("drills/", views.drill_list_view, name="drill-list"),
    path("drills/<int:pk>/report.md", views.drill_markdown_view, name="drill-markdown"),
    path("plans/", views.plan_list_view, name="plan-list"),
    path("plans/<int:pk>/", views.plan_detail_view, name="plan-detail"),
]
