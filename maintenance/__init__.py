"""Maintenance & patching: see DESIGN.md for what this app owns."""
