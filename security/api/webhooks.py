"""GitHub's Dependabot webhook, signed: ``POST /api/v1/security/dependabot/webhook/``.

GitHub signs every delivery with the webhook's secret: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of
the raw body>``. opsgov holds the same secret in ``DEPENDABOT_WEBHOOK_SECRET`` (or the file named by
``DEPENDABOT_WEBHOOK_SECRET_FILE``) and compares in constant time before reading anything else:

- no secret configured: 403 (the webhook is off);
- no ``X-Hub-Signature-256`` header: 401; a signature that is not ``sha256=<64 hex>`` or does not match
  the body: 403. Nothing is parsed before the signature is checked.

Events (``X-GitHub-Event``):

- ``dependabot_alert`` (actions created, reopened, reintroduced, auto_reopened, fixed, dismissed,
  auto_dismissed): the ``alert`` is imported like ``POST /api/v1/security/scans/`` with format
  ``dependabot`` — the alert's ``state`` says open, fixed or not applicable; the asset is the query's
  ``asset``, else the repository's full name (mapping rules and ``create_asset``/``service`` as there).
  201 with the scan, 200 when the same delivery was imported already.
- ``ping`` (sent when the webhook is created): 200 ``{"pong": true}``.
- anything else: 202 ``{"ignored": ...}`` naming the event (subscribe the webhook to Dependabot alerts only).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from ..models import ScanFormat
from ..parsers import UnknownFormat
from . import serializers as s

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
_SIGNATURE = re.compile(r"sha256=([0-9a-f]{64})")
ALERT_ACTIONS = (
    "created",
    "reopened",
    "reintroduced",
    "auto_reopened",
    "fixed",
    "dismissed",
    "auto_dismissed",
)


class SignatureMissing(exceptions.APIException):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "signature_missing"


def signature(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value GitHub sends for `body` signed with `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, header: str | None, body: bytes) -> None:
    """Raise 401/403 unless `header` is GitHub's signature of `body` with `secret`."""
    if not secret:
        raise exceptions.PermissionDenied(
            "The Dependabot webhook is off: set DEPENDABOT_WEBHOOK_SECRET to the webhook's secret."
        )
    if not header:
        raise SignatureMissing(f"Missing {SIGNATURE_HEADER}: give the GitHub webhook a secret.")
    match = _SIGNATURE.fullmatch(header.strip())
    if match is None:
        raise exceptions.PermissionDenied(f"{SIGNATURE_HEADER} must be sha256=<64 lowercase hex digits>.")
    if not hmac.compare_digest(header.strip(), signature(secret, body)):
        raise exceptions.PermissionDenied(
            f"{SIGNATURE_HEADER} does not match the body: the webhook's secret differs from "
            "DEPENDABOT_WEBHOOK_SECRET, or the body was changed on the way."
        )


class DependabotWebhookView(APIView):
    """Dependabot alerts from GitHub's webhook, authenticated by their HMAC signature (no token)."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    throttle_classes: list[Any] = []

    @extend_schema(
        summary="GitHub's Dependabot webhook (signed with X-Hub-Signature-256)",
        parameters=[
            OpenApiParameter(SIGNATURE_HEADER, str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter(EVENT_HEADER, str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("asset", str, description="Asset name (default: the repository's full name)."),
            OpenApiParameter("create_asset", bool, description="Create an unknown asset."),
            OpenApiParameter("service", str, description="Slug of the service of a created asset."),
        ],
        request={"application/json": OpenApiTypes.ANY},
        responses={
            201: s.ScanImportResultSerializer,
            200: OpenApiTypes.OBJECT,
            202: inline_serializer("SecurityWebhookIgnored", {"ignored": serializers.CharField()}),
        },
    )
    def post(self, request: Request) -> Response:
        body = request.body
        verify(settings.DEPENDABOT_WEBHOOK_SECRET, request.headers.get(SIGNATURE_HEADER), body)
        event = request.headers.get(EVENT_HEADER, "")
        if event == "ping":
            return Response({"pong": True})
        if event != "dependabot_alert":
            return Response(
                {"ignored": f"event {event or '(none)'!r}: opsgov reads dependabot_alert (and ping) only"},
                status=status.HTTP_202_ACCEPTED,
            )
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise serializers.ValidationError({"body": [f"not JSON: {exc}"]}) from None
        if not isinstance(payload, dict) or not isinstance(payload.get("alert"), dict):
            raise serializers.ValidationError({"alert": ["A dependabot_alert delivery carries the alert object."]})
        action = payload.get("action")
        if action not in ALERT_ACTIONS:
            raise serializers.ValidationError({"action": [f"{action!r} is not one of {', '.join(ALERT_ACTIONS)}"]})
        query = s.WebhookQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        params = query.validated_data
        try:
            result = services.import_scan(
                report=payload,
                asset_name=params.get("asset") or None,
                format=ScanFormat.DEPENDABOT,
                create_asset=params.get("create_asset", False),
                service=params.get("service"),
                kind=params.get("kind"),
            )
        except UnknownFormat as exc:
            raise serializers.ValidationError(
                {"alert": [f"{error.path}: {error.message}" for error in exc.tried.values()]}
            ) from None
        answer = s.ScanImportResultSerializer({"created": result.created, "scan": result.scan}).data
        return Response(answer, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)
