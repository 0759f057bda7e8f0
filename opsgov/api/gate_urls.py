"""Routes of the quality gates API (mounted under /api/v1/)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import gates

router = SimpleRouter()
router.register("gates", gates.GateViewSet, basename="api-gate")
router.register("gate-waivers", gates.GateWaiverViewSet, basename="api-gate-waiver")

urlpatterns = [path("", include(router.urls))]
