"""Routes of the monitoring API, included under /api/v1/ by opsgov.api.urls: the alert-rule catalog, the
synthetic checks and the SLOs. Serializers and viewsets live in the sub-packages (catalog.api, checks.api,
slos.api)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from ..catalog import api as catalog_api
from ..checks import api as checks_api
from ..slos.api import views as slos_api

router = SimpleRouter()
router.register("runbooks", catalog_api.RunbookViewSet, basename="api-runbook")
router.register("alert-rules", catalog_api.AlertRuleViewSet, basename="api-alert-rule")
router.register("checks/http", checks_api.HttpCheckViewSet, basename="api-http-check")
router.register("checks/heartbeats", checks_api.HeartbeatViewSet, basename="api-heartbeat")
router.register("slos", slos_api.SLOViewSet, basename="api-slo")

urlpatterns = [
    path("", include(router.urls)),
]
