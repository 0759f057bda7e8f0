"""Bench-only: the same raw event stored the way most Django projects would write it (bench/ingest_bench.py).

A DRF CreateAPIView with a ModelSerializer of RawEvent, at
/bench/drf/alertmanager/<token>/: the integration found by its token hash with
the ORM, the webhook's groupKey and status mapped onto the row, the row saved
by the serializer and its processing enqueued after the commit exactly as the
ingestion endpoint does (incidents.ingest.enqueue.enqueue_process_raw_event), so that
the Celery worker's work and the count check are the same. It answers 201 with
the row. Served by the same gunicorn as everything else, under the whole
MIDDLEWARE, with bench_settings (ROOT_URLCONF = "bench_drf": this module's
route, then the URLconf of the settings under test). Not a template for production code.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, URLResolver, include, path
from django.utils import timezone
from rest_framework import generics, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from incidents.ingest.enqueue import enqueue_process_raw_event
from incidents.models import Integration, IntegrationKind, RawEvent, hash_token


class RawEventSerializer(serializers.ModelSerializer[RawEvent]):
    class Meta:
        model = RawEvent
        fields = ["uuid", "dedup_key", "action", "payload"]
        read_only_fields = ["uuid"]


class AlertmanagerCreateView(generics.CreateAPIView[RawEvent]):
    """POST an Alertmanager webhook: stored as a RawEvent of the integration whose token is in the path."""

    serializer_class = RawEventSerializer
    authentication_classes: list[Any] = []  # the token in the path is the authentication
    permission_classes = [AllowAny]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        integration = get_object_or_404(
            Integration, token_hash=hash_token(kwargs["token"]), enabled=True, kind=IntegrationKind.ALERTMANAGER
        )
        webhook = request.data
        serializer = self.get_serializer(
            data={
                "dedup_key": webhook.get("groupKey"),
                "action": "trigger" if webhook.get("status") == "firing" else "resolve",
                "payload": webhook,
            }
        )
        serializer.is_valid(raise_exception=True)
        event = serializer.save(integration=integration, received_at=timezone.now())
        transaction.on_commit(partial(enqueue_process_raw_event, event.pk), robust=True)
        return Response(serializer.data, status=status.HTTP_201_CREATED)


urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/drf/alertmanager/<str:token>/", AlertmanagerCreateView.as_view()),
    path("", include(getattr(settings, "BENCH_BASE_URLCONF", "opsgov.urls"))),
]
