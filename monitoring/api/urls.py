"""Routes of the monitoring API (mounted under /api/v1/)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("slos", views.SLOViewSet, basename="api-slo")

urlpatterns = [
    path("", include(router.urls)),
]
