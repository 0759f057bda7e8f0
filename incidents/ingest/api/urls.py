"""Routes of the ingestion API (mounted under /api/v1/): the dead letters."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("dead-letters", views.DeadLetterViewSet, basename="api-dead-letter")

urlpatterns = [
    path("", include(router.urls)),
]
