"""Routes of the incidents API (mounted under /api/v1/)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("incidents", views.IncidentViewSet, basename="api-incident")
router.register("integrations", views.IntegrationViewSet, basename="api-integration")

urlpatterns = [
    path("", include(router.urls)),
    path("", include("incidents.ingest.api.urls")),
    path("", include("incidents.oncall.api.urls")),
    path("", include("incidents.reviews.api.urls")),
]
