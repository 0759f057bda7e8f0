"""Support: see DESIGN.md for what this app owns."""
