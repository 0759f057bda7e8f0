"""The Celery application. Configuration lives in settings (CELERY_*), the beat schedule included."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsgov.settings")

app = Celery("opsgov")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
