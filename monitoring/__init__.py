"""Monitoring & SLOs: see DESIGN.md for what this app owns.

One sub-package per sub-domain, each with the app's files (services, selectors, views and urls, api, admin, ...):
``slos/`` (SLI intake, the SLO engine, the SLO pages and API), ``catalog/`` (alert-rule catalog and runbooks) and
``checks/`` (HTTP checks and heartbeats). ``models/`` holds every model of the app. At the top level stay the
modules found by name: apps, admin, urls and the URLconfs opsgov includes (api/urls.py), and the
ones opsgov.apps discovers (gates, metrics, dashboard_panels, report_sections, prometheus_metrics, tasks),
beside the leaf helpers the models use (links, promql).
"""
