"""Routes of the incidents API (mounted under /api/v1/)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import dead_letters, views

router = SimpleRouter()
router.register("incidents", views.IncidentViewSet, basename="api-incident")
router.register("integrations", views.IntegrationViewSet, basename="api-integration")
router.register("dead-letters", dead_letters.DeadLetterViewSet, basename="api-dead-letter")

urlpatterns = [
    path("", include(router.urls)),
    path("", include("incidents.api.oncall_urls")),
    path("", include("incidents.api.reviews_urls")),
]
