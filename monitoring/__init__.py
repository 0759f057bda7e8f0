"""Monitoring & SLOs: see DESIGN.md for what this app owns."""
