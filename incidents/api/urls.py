"""Routes of the incidents API (mounted under /api/v1/)."""

urlpatterns: list = []
