from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import health, prometheus, views
from .gates import views as gate_views
from .reports import views as report_views
from .tokens import views as token_views

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", prometheus.metrics_view, name="metrics"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # Before the API's other routes, so the busiest URLs resolve first (bench/ingest_bench.py).
    # Change events from CI (maintenance), before incidents' routes: "pagerduty/<token>/enqueue" would take them.
    path("api/v1/ingest/", include("maintenance.ingest.urls")),
    path("api/v1/ingest/", include("incidents.ingest.urls")),
    path("api/v1/", include("opsgov.api.urls")),
    path("", views.dashboard_view, name="home"),
    path("dashboard/metrics.csv", views.metrics_csv_view, name="dashboard-metrics-csv"),
    path("reports/subscriptions/", report_views.subscriptions_view, name="report-subscriptions"),
    path("account/api-tokens/", token_views.api_tokens_view, name="api-tokens"),
    path("account/api-tokens/<str:token_key>/revoke/", token_views.api_token_revoke_view, name="api-token-revoke"),
    path("policy/", views.policy, name="policy"),
    path("teams/", views.team_list, name="team-list"),
    path("teams/<slug:slug>/", views.team_detail, name="team-detail"),
    path("services/", views.service_list, name="service-list"),
    path("services/<slug:slug>/", views.service_detail, name="service-detail"),
    path("services/<slug:slug>/scorecard/", gate_views.service_scorecard, name="service-scorecard"),
    path("gates/", include("opsgov.gates.urls")),
    path("incidents/", include("incidents.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("maintenance/", include("maintenance.urls")),
    path("support/", include("support.urls")),
    path("backups/", include("backups.urls")),
    path("security/", include("security.urls")),
    path("compliance/", include("compliance.urls")),
    # Pings (opsgov.pings: heartbeats, backup jobs): public, the uuid in the path is the token.
    path("ping/", include("opsgov.ping_urls")),
]
