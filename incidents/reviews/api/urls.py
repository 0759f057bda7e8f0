"""Routes of the reviews API (mounted under /api/v1/)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import reviews

router = SimpleRouter()
router.register("reviews", reviews.ReviewViewSet, basename="api-review")
router.register("action-items", reviews.ActionItemViewSet, basename="api-action-item")

urlpatterns = [
    path("", include(router.urls)),
]
