"""Routes of the support API (mounted under /api/v1/)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("support/tickets", views.TicketViewSet, basename="api-support-ticket")
router.register("support/contacts", views.ContactViewSet, basename="api-support-contact")
router.register("support/surveys", views.CsatSurveyViewSet, basename="api-support-survey")
router.register("support/nps-campaigns", views.NpsCampaignViewSet, basename="api-support-nps-campaign")
router.register("support/articles", views.ArticleViewSet, basename="api-support-article")

urlpatterns = [path("", include(router.urls))]
