"""Routes of the backups API, included under /api/v1/ by opsgov.api.urls."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("backups/jobs", views.BackupJobViewSet, basename="api-backup-job")
router.register("backups/runs", views.BackupRunViewSet, basename="api-backup-run")
router.register("backups/restore-tests", views.RestoreTestViewSet, basename="api-restore-test")
router.register("backups/drills", views.DRDrillViewSet, basename="api-dr-drill")
router.register("backups/plans", views.DRPlanViewSet, basename="api-dr-plan")

urlpatterns = [
    path("", include(router.urls)),
]
