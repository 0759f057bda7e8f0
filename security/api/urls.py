"""Routes of the security API, included under /api/v1/ by opsgov.api.urls."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views, webhooks

router = SimpleRouter()
router.register("security/assets", views.AssetViewSet, basename="api-security-asset")
router.register("security/asset-rules", views.AssetMappingRuleViewSet, basename="api-security-asset-rule")
router.register("security/scans", views.ScanViewSet, basename="api-security-scan")
router.register("security/findings", views.FindingViewSet, basename="api-security-finding")
router.register("security/components", views.ComponentViewSet, basename="api-security-component")
router.register("security/alerts", views.SecurityAlertViewSet, basename="api-security-alert")
router.register("security/risk-acceptances", views.RiskAcceptanceViewSet, basename="api-security-risk-acceptance")
router.register("security/access-reviews", views.AccessReviewViewSet, basename="api-security-access-review")
router.register("security/reviewed-accounts", views.ReviewedAccountViewSet, basename="api-security-reviewed-account")
router.register("security/courses", views.CourseViewSet, basename="api-security-course")
router.register("security/training-records", views.TrainingRecordViewSet, basename="api-security-training-record")
router.register("security/assessments", views.AssessmentViewSet, basename="api-security-assessment")
router.register(
    "security/assessment-findings", views.AssessmentFindingViewSet, basename="api-security-assessment-finding"
)

urlpatterns = [
    path("", include(router.urls)),
    path(
        "security/dependabot/webhook/",
        webhooks.DependabotWebhookView.as_view(),
        name="api-security-dependabot-webhook",
    ),
]
