"""HTML routes of reviews (mounted under /incidents/)."""

urlpatterns: list = []
