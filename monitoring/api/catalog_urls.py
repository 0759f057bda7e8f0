"""Routes of the runbook and alert-rule API (included by opsgov/api/urls.py under /api/v1/)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import catalog

router = SimpleRouter()
router.register("runbooks", catalog.RunbookViewSet, basename="api-runbook")
router.register("alert-rules", catalog.AlertRuleViewSet, basename="api-alert-rule")

urlpatterns = [
    path("", include(router.urls)),
]
