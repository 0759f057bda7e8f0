"""Service level objectives: SLI intake, the SLO engine, and the SLO pages and API.

services (SLO writes), sli (SLI intake: pushed, pulled or fed by checks), engine (error budgets, burn rates,
burn-rate alerts), prometheus_pull and prometheus_rules (PromQL in and out), selectors (reads), filters, pages
(what the pages show), views and urls, api/ (routed by monitoring.api.urls), admin, demo. The Celery tasks
are monitoring.tasks; the models are in monitoring.models.slos and monitoring.models.engine.
"""
