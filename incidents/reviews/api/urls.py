"""Routes of the reviews API (mounted under /api/v1/)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("reviews", views.ReviewViewSet, basename="api-review")
router.register("action-items", views.ActionItemViewSet, basename="api-action-item")

urlpatterns = [
    path("", include(router.urls)),
]
