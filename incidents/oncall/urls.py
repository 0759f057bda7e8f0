"""HTML routes of oncall (mounted under /incidents/)."""

from django.urls import path

from . import escalation_views, oncall_views

urlpatterns = [
    path("oncall/", oncall_views.oncall_now_view, name="oncall-now"),
    path("oncall/<slug:slug>/", oncall_views.schedule_detail_view, name="schedule-detail"),
    path("escalation/", escalation_views.escalation_policy_list_view, name="escalation-policy-list"),
    path("escalation/<slug:slug>/", escalation_views.escalation_policy_detail_view, name="escalation-policy-detail"),
]
