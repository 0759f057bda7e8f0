"""Synthetic checks: HTTP checks of URLs and heartbeats of jobs (services, selectors, pages, API, admin)."""
