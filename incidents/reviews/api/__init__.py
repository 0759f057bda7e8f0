"""REST API of post-incident reviews and the improvement backlog."""
