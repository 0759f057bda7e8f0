"""HTML pages of incidents (mounted under /incidents/)."""

urlpatterns: list = []
