from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from opsgov.csp import REDOC_POLICY

from . import views
from .docs import RedocDocsView, SwaggerDocsView

# Basenames prefixed with "api-", like every app's router: "team-list" is the HTML page's name.
router = SimpleRouter()
router.register("teams", views.TeamViewSet, basename="api-team")
router.register("services", views.ServiceViewSet, basename="api-service")
router.register("metrics", views.MetricSnapshotViewSet, basename="api-metric")

urlpatterns = [
    # The API root lists every readable route of this URLconf, whichever app registered it.
    path("", views.ApiRootView.as_view(), name="api-root"),
    path("", include(router.urls)),
    path("", include("incidents.api.urls")),
    path("", include("monitoring.api.urls")),
    path("", include("maintenance.api.urls")),
    path("", include("support.api.urls")),
    path("", include("backups.api.urls")),
    path("", include("security.api.urls")),
    path("", include("opsgov.gates.api")),
    path("", include("compliance.api.urls")),
    path("policy/", views.PolicyView.as_view(), name="api-policy"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The docs pages work under the site's Content-Security-Policy (opsgov.api.docs, opsgov.csp).
    path("docs/", SwaggerDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", csp_update(REDOC_POLICY)(RedocDocsView.as_view(url_name="api-schema")), name="api-redoc"),
]
