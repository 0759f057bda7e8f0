"""Backups & DR: see DESIGN.md for what this app owns."""
