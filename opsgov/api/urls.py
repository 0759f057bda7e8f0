from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("teams", views.TeamViewSet)
router.register("services", views.ServiceViewSet)
router.register("metrics", views.MetricSnapshotViewSet, basename="metric")

urlpatterns = [
    path("", include(router.urls)),
    path("", include("incidents.api.urls")),
    path("", include("monitoring.api.catalog_urls")),
    path("", include("monitoring.check_api")),
    path("", include("opsgov.api.gate_urls")),
    path("", include("monitoring.api.slo_urls")),
    path("policy/", views.PolicyView.as_view(), name="api-policy"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
