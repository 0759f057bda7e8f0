"""Routes of the runbook and alert-rule API (included under /api/v1/ by opsgov.api.urls, which names this module)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from ..catalog import api

router = SimpleRouter()
router.register("runbooks", api.RunbookViewSet, basename="api-runbook")
router.register("alert-rules", api.AlertRuleViewSet, basename="api-alert-rule")

urlpatterns = [
    path("", include(router.urls)),
]
