"""Routes of the oncall API (mounted under /api/v1/)."""

urlpatterns: list = []
