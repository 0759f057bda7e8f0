"""HTML routes of oncall (mounted under /incidents/)."""

from django.urls import path

from . import oncall_views

urlpatterns = [
    path("oncall/", oncall_views.oncall_now_view, name="oncall-now"),
    path("oncall/<slug:slug>/", oncall_views.schedule_detail_view, name="schedule-detail"),
]
