"""The alert-rule catalog (imported Prometheus rule files) and the runbooks its rules link to."""
