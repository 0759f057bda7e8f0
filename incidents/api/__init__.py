"""REST API of incidents and integrations."""
