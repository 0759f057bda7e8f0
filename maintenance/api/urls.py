"""Routes of the maintenance API, included under /api/v1/ by opsgov.api.urls (all under maintenance/)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("maintenance/windows", views.WindowViewSet, basename="api-maintenance-window")
router.register("maintenance/freezes", views.FreezeViewSet, basename="api-freeze")
router.register("maintenance/changes", views.ChangeViewSet, basename="api-change")
router.register("maintenance/change-integrations", views.IntegrationViewSet, basename="api-change-integration")
router.register("maintenance/change-templates", views.ChangeTemplateViewSet, basename="api-change-template")
router.register("maintenance/automations", views.AutomationViewSet, basename="api-maintenance-automation")
router.register("maintenance/logs", views.LogViewSet, basename="api-maintenance-log")
router.register("maintenance/hosts", views.HostViewSet, basename="api-host")
router.register("maintenance/obligations", views.ObligationViewSet, basename="api-patch-obligation")
router.register("maintenance/components", views.ComponentViewSet, basename="api-component")
router.register("maintenance/upgrade-plans", views.UpgradePlanViewSet, basename="api-upgrade-plan")

urlpatterns = [
    # First: every host posts here daily, and a router's patterns would be tried before it for nothing.
    path("maintenance/patch-reports/", views.PatchReportView.as_view(), name="api-patch-report"),
    path("", include(router.urls)),
    path("maintenance/renovate-reports/", views.RenovateReportView.as_view(), name="api-renovate-report"),
    path("maintenance/end-of-life/", views.EolImportView.as_view(), name="api-end-of-life"),
]
