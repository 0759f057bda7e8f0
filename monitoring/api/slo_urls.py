"""Routes of the SLO API (included under /api/v1/ by opsgov.api.urls, which names this module)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from ..slos.api import views

router = SimpleRouter()
router.register("slos", views.SLOViewSet, basename="api-slo")

urlpatterns = [
    path("", include(router.urls)),
]
