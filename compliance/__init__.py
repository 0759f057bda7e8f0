"""Compliance & audit: see DESIGN.md for what this app owns."""
