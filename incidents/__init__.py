"""Incidents & on-call: see DESIGN.md for what this app owns."""
