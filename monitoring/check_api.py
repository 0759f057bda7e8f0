"""Routes of the synthetic checks' API (included under /api/v1/ by opsgov.api.urls, which names this module)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .checks import api

router = SimpleRouter()
router.register("checks/http", api.HttpCheckViewSet, basename="api-http-check")
router.register("checks/heartbeats", api.HeartbeatViewSet, basename="api-heartbeat")

urlpatterns = [path("", include(router.urls))]
