"""HTML routes of on-call and escalation policies (mounted under /incidents/)."""

from django.urls import path

from . import views

urlpatterns = [
    path("oncall/", views.oncall_now_view, name="oncall-now"),
    path("oncall/<slug:slug>/", views.schedule_detail_view, name="schedule-detail"),
    path("escalation/", views.escalation_policy_list_view, name="escalation-policy-list"),
    path("escalation/<slug:slug>/", views.escalation_policy_detail_view, name="escalation-policy-detail"),
]
