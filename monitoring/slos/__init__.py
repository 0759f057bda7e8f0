"""Service level objectives: SLI intake (pushed, pulled from Prometheus, fed by checks), the SLO engine, pages, API."""
