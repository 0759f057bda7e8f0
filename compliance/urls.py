"""HTML pages of compliance outside the admin (mounted under /compliance/)."""

from django.urls import path

from . import views

urlpatterns = [
    path("calendar/", views.calendar_view, name="compliance-calendar"),
]
