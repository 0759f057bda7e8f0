"""Synthetic checks: HTTP checks opsgov runs against URLs, and heartbeats that jobs ping.

services (the writes, runs and pings), selectors (reads), kinds (what the API and the pages need of each kind),
targets (which addresses a check may request), filters, forms, views and urls (pages), pings (heartbeats as a receiver
of opsgov.pings, registered from apps.py), api (routed by monitoring.api.urls), admin, demo. The Celery tasks
are checks.tasks (registered under their first names, monitoring.check_tasks.*); the models are in
monitoring.models.checks.
"""
