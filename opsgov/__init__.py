"""opsgov: the project package and its core app (settings, policy, teams and services, registries)."""

from .celery import app as celery_app

__all__ = ("celery_app",)
