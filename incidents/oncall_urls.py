"""HTML routes of oncall (mounted under /incidents/)."""

urlpatterns: list = []
