"""WSGI entry point (gunicorn opsgov.wsgi).

Ingestion paths (/api/v1/ingest/...) take a shorter middleware chain:
opsgov.lean explains why and how.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsgov.settings")

from opsgov.lean import with_ingest_handler

application = with_ingest_handler(get_wsgi_application())
