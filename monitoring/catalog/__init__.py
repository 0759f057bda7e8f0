"""The alert-rule catalog (imported Prometheus rule files) and the runbooks its rules link to.

services (the writes: runbooks, rule-file import, runbooks linked by hand), selectors (reads, and the gate's
findings), rule_files (reading and checking a rule file, without the database), rendering (runbook Markdown),
filters, forms, views and urls (pages), api (routed by monitoring.api.urls), admin, demo. The models are
in monitoring.models.catalog.
"""
