"""HTML pages of incidents (mounted under /incidents/)."""

from django.urls import include, path, re_path

from . import views

urlpatterns = [
    path("", views.incident_list_view, name="incident-list"),
    path("new/", views.incident_declare_view, name="incident-declare"),
    path("metrics/", views.metrics_overview_view, name="incident-metrics"),
    path("metrics/<slug:slug>/", views.service_metrics_view, name="incident-service-metrics"),
    path("<int:number>/", views.incident_detail_view, name="incident-detail"),
    path("integrations/", views.integration_list_view, name="integration-list"),
    path("integrations/<uuid:uuid>/", views.integration_detail_view, name="integration-detail"),
    path("dead-letters/", views.dead_letter_list_view, name="dead-letter-list"),
    path("dead-letters/<uuid:event_uuid>/replay/", views.dead_letter_replay_view, name="dead-letter-replay"),
    # The public id as people write it: redirects to the page above (one address per incident).
    re_path(r"^(?P<public_id>(?:INC|inc)-[0-9]+)/$", views.incident_by_public_id_view, name="incident-by-public-id"),
    path("", include("incidents.oncall.urls")),
    path("", include("incidents.reviews.urls")),
    re_path(
        r"^(?P<number>[0-9]+)/(?P<action>acknowledge|mitigate|resolve|reopen|cancel|note)/$",
        views.incident_action_view,
        name="incident-action",
    ),
]
