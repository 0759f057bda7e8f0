"""The SLO API (mounted under /api/v1/ by opsgov.api.urls)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import slo_views as views

router = SimpleRouter()
router.register("slos", views.SLOViewSet, basename="api-slo")

urlpatterns = [
    path("", include(router.urls)),
]
