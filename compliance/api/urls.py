"""Routes of the compliance API, included under /api/v1/ by opsgov.api.urls."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("compliance/frameworks", views.FrameworkViewSet, basename="api-compliance-framework")
router.register("compliance/controls", views.ControlViewSet, basename="api-compliance-control")
router.register("compliance/evidence-files", views.EvidenceFileViewSet, basename="api-compliance-evidence-file")
router.register("compliance/audits", views.AuditViewSet, basename="api-compliance-audit")
router.register("compliance/findings", views.FindingViewSet, basename="api-compliance-finding")
router.register("compliance/exceptions", views.ExceptionViewSet, basename="api-compliance-exception")
router.register(
    "compliance/regulatory-changes", views.RegulatoryChangeViewSet, basename="api-compliance-regulatory-change"
)
router.register("compliance/regulatory-tasks", views.RegulatoryTaskViewSet, basename="api-compliance-regulatory-task")

urlpatterns = [path("", include(router.urls))]
