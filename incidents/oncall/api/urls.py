"""Routes of the oncall API (mounted under /api/v1/)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import escalation, oncall

router = SimpleRouter()
router.register("schedules", oncall.ScheduleViewSet, basename="api-schedule")
router.register("escalation-policies", escalation.EscalationPolicyViewSet, basename="api-escalation-policy")
router.register(
    r"schedules/(?P<schedule_slug>[-a-zA-Z0-9_]+)/layers", oncall.ScheduleLayerViewSet, basename="api-schedule-layer"
)
router.register(
    r"schedules/(?P<schedule_slug>[-a-zA-Z0-9_]+)/overrides",
    oncall.ScheduleOverrideViewSet,
    basename="api-schedule-override",
)

urlpatterns = [
    path("oncall/now/", oncall.OnCallNowView.as_view(), name="api-oncall-now"),
    path("", include(router.urls)),
]
