"""Routes of the reviews API (mounted under /api/v1/)."""

urlpatterns: list = []
