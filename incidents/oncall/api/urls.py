"""Routes of the on-call API (mounted under /api/v1/)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("schedules", views.ScheduleViewSet, basename="api-schedule")
router.register("escalation-policies", views.EscalationPolicyViewSet, basename="api-escalation-policy")
router.register(
    r"schedules/(?P<schedule_slug>[-a-zA-Z0-9_]+)/layers", views.ScheduleLayerViewSet, basename="api-schedule-layer"
)
router.register(
    r"schedules/(?P<schedule_slug>[-a-zA-Z0-9_]+)/overrides",
    views.ScheduleOverrideViewSet,
    basename="api-schedule-override",
)

urlpatterns = [
    path("oncall/now/", views.OnCallNowView.as_view(), name="api-oncall-now"),
    path("", include(router.urls)),
]
