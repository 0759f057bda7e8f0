"""Serializers of the incidents API.

Input serializers check shapes and references (slugs, usernames, the policy's
severities); the lifecycle rules live in incidents.services, whose errors the
API exception handler turns into 400s with field paths. Output serializers are
separate, so a client never sees a write-only shape in a response.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.urls import NoReverseMatch
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from opsgov.api.fields import AwareDateTimeField
from opsgov.api.schema import NarrowedChoiceField
from opsgov.api.strict import StrictModelSerializer, StrictSerializer
from opsgov.models import Service

from .. import history
from ..context import incident_context
from ..ingest.selectors import unknown_routing_values
from ..models import (
    EXTERNAL_INTEGRATION_KINDS,
    AlertSignal,
    Incident,
    Integration,
    IntegrationKind,
    SignalKind,
    TimelineEvent,
    TimelineKind,
    routing_label_problem,
    validate_severity,
)

User = get_user_model()

#: The kinds an integration is created as (settings.SPECTACULAR_SETTINGS names their enum).
EXTERNAL_KIND_CHOICES = [(kind.value, kind.label) for kind in EXTERNAL_INTEGRATION_KINDS]


def _service_field(**kwargs: Any) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all(), **kwargs)


def _user_field(**kwargs: Any) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(is_active=True), **kwargs)


# --- Incidents -----------------------------------------------------------------------


@extend_schema_field(
    {"type": "string", "enum": TimelineKind.values, "description": "What the entry records."},
    component_name="TimelineKind",  # its own component: "kind" is also the integrations' field name
)
class TimelineKindField(serializers.CharField):
    """A timeline entry's kind (triggered, status, reopened, note, signal, notification, field)."""


class TimelineEventSerializer(serializers.ModelSerializer):
    kind = TimelineKindField(read_only=True)
    actor: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Username; empty for the system."
    )

    class Meta:
        model = TimelineEvent
        fields = ["id", "at", "kind", "actor", "message", "data"]
        read_only_fields = fields


class IncidentSerializer(serializers.ModelSerializer):
    """An incident as lists show it. `id` is the public "INC-<number>"; `number` is what URLs take."""

    id = serializers.CharField(source="public_id", read_only=True, help_text='"INC-<number>"')
    number = serializers.IntegerField(source="pk", read_only=True)
    service: serializers.SlugRelatedField[Service] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    impacted_services: serializers.SlugRelatedField[Service] = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )
    commander: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Username of the incident commander."
    )
    integration: serializers.SlugRelatedField[Integration] = serializers.SlugRelatedField(
        slug_field="uuid", read_only=True, allow_null=True, help_text="UUID of the integration that opened it."
    )

    class Meta:
        model = Incident
        fields = [
            "id",
            "number",
            "uuid",
            "title",
            "summary",
            "service",
            "impacted_services",
            "severity",
            "status",
            "customer_impact",
            "during_maintenance",
            "commander",
            "triggered_at",
            "acknowledged_at",
            "mitigated_at",
            "resolved_at",
            "cancelled_at",
            "reopen_count",
            "integration",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ContextLinkSerializer(serializers.Serializer):
    """A URL from an alert: `url` as sent (show it as text); `href` only for an absolute http(s) URL, else null."""

    kind = serializers.CharField(help_text="runbook, generator, dashboard, link, client or image")
    text = serializers.CharField()
    url = serializers.CharField()
    href = serializers.CharField(allow_null=True)
    # Named like a Field attribute: DRF's serializer metaclass takes declared fields off the class (mypy cannot know).
    source = serializers.CharField(  # type: ignore[assignment]
        help_text='Where it was read, e.g. "annotation runbook_url", "rule catalog".'
    )


class ContextDetailsSerializer(serializers.Serializer):
    title = serializers.CharField()
    text = serializers.CharField(help_text="custom_details as indented JSON, cut to a fixed size.")
    truncated = serializers.BooleanField()
    value = serializers.JSONField(allow_null=True, help_text="custom_details itself; null when truncated.")


class ContextAlertSerializer(serializers.Serializer):
    fingerprint = serializers.CharField()
    alertname = serializers.CharField()
    status = serializers.CharField()
    summary = serializers.CharField()
    description = serializers.CharField()
    runbook = ContextLinkSerializer(allow_null=True)


class IncidentContextSerializer(serializers.Serializer):
    """What responders need, merged from the incident's signals (incidents.context; bounded, deduplicated)."""

    runbooks = ContextLinkSerializer(many=True)
    descriptions = serializers.ListField(child=serializers.CharField())
    links = ContextLinkSerializer(many=True)
    images = ContextLinkSerializer(many=True, help_text="Image URLs, to show as links (never loaded inline).")
    custom_details = ContextDetailsSerializer(many=True)
    alerts = ContextAlertSerializer(many=True, help_text="Alertmanager alerts, the latest state of each.")
    omitted = serializers.IntegerField(help_text="Entries left out by the size limits.")


#: Timeline entries embedded in an incident's detail (the newest); the rest: GET .../timeline/.
TIMELINE_EMBEDDED = 100


@extend_schema_field(
    {"type": "string", "enum": SignalKind.values, "description": "alertmanager (by fingerprint) or events_v2."},
    component_name="SignalKind",  # its own component: "kind" is also the integrations' field name
)
class SignalKindField(serializers.CharField):
    """An alert signal's source: alertmanager (by fingerprint) or events_v2 (by dedup key)."""


class AlertSignalSerializer(serializers.ModelSerializer):
    """One alert of an incident with its count: an Alertmanager fingerprint or an Events v2 dedup key."""

    kind = SignalKindField(read_only=True)

    class Meta:
        model = AlertSignal
        fields = ["kind", "fingerprint", "name", "count", "first_seen", "last_seen", "last_status", "labels"]
        read_only_fields = fields


class IncidentDetailSerializer(IncidentSerializer):
    """An incident with its newest timeline entries (oldest of them first) and the context for responders.

    `timeline` holds at most TIMELINE_EMBEDDED (100) entries, the newest;
    `timeline_count` says how many there are and `timeline_truncated` whether
    some were left out: read them all from GET /api/v1/incidents/{number}/timeline/
    (paginated), and the alerts with their counts from .../signals/.
    """

    timeline = serializers.SerializerMethodField(
        help_text=f"The newest {TIMELINE_EMBEDDED} timeline entries, oldest of them first; "
        "the whole timeline: GET /api/v1/incidents/{number}/timeline/."
    )
    timeline_count = serializers.SerializerMethodField(help_text="Entries on the whole timeline.")
    timeline_truncated = serializers.SerializerMethodField(
        help_text=f"True when the timeline has more than {TIMELINE_EMBEDDED} entries (the oldest are left out here)."
    )
    # Named like Field.context (the serializer context): the metaclass takes declared fields off the class.
    context = serializers.SerializerMethodField(method_name="get_responder_context")  # type: ignore[assignment]

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "timeline", "timeline_count", "timeline_truncated", "context"]
        read_only_fields = fields

    def _timeline(self, incident: Incident) -> tuple[list[TimelineEvent], int]:
        """The embedded entries and the count, read once per incident (two queries at most)."""
        cache: dict[int, tuple[list[TimelineEvent], int]] = self.__dict__.setdefault("embedded_timelines", {})
        if incident.pk not in cache:
            newest = list(
                TimelineEvent.objects.filter(incident=incident)
                .select_related("actor")
                .order_by("-at", "-id")[:TIMELINE_EMBEDDED]
            )
            count = len(newest) if len(newest) < TIMELINE_EMBEDDED else incident.timeline.count()
            cache[incident.pk] = (newest[::-1], count)
        return cache[incident.pk]

    @extend_schema_field(TimelineEventSerializer(many=True))
    def get_timeline(self, incident: Incident) -> list[dict[str, Any]]:
        return list(TimelineEventSerializer(self._timeline(incident)[0], many=True).data)

    def get_timeline_count(self, incident: Incident) -> int:
        return self._timeline(incident)[1]

    def get_timeline_truncated(self, incident: Incident) -> bool:
        entries, count = self._timeline(incident)
        return count > len(entries)

    @extend_schema_field(IncidentContextSerializer)
    def get_responder_context(self, incident: Incident) -> dict[str, Any]:
        return incident_context(incident).as_json()


EXPLICIT_TIMESTAMPS_HINT = (
    "Explicit timestamps record history: they need the incidents.import_incident_history permission (SRE Lead)."
)


class HistoryFieldsMixin:
    """Instant fields (`history_fields`) exist only for users who may import history (incidents.history).

    For anyone else they are unknown fields, refused with a 400 that names them and says why.
    Without a request in the context (the OpenAPI schema) they are shown.
    """

    history_fields: tuple[str, ...] = ()

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()  # type: ignore[misc]
        request = self.context.get("request")  # type: ignore[attr-defined]
        if request is not None and not history.may_import(request.user):
            for name in self.history_fields:
                fields.pop(name, None)
        return dict(fields)

    def hint_for_unknown(self, name: str) -> str:
        return EXPLICIT_TIMESTAMPS_HINT if name in self.history_fields else super().hint_for_unknown(name)  # type: ignore[misc]


class IncidentCreateSerializer(HistoryFieldsMixin, StrictSerializer):
    """Declare an incident, triggered now. With the incidents.import_incident_history permission (SRE
    Lead), record one from history instead: `triggered_at` and the later instants, under the rules of
    `import_incidents` (none in the future, each not before the earlier ones); that create is audited."""

    history_fields = history.INSTANT_FIELDS

    title = serializers.CharField(max_length=255)
    service = _service_field()
    severity = serializers.CharField(max_length=8, validators=[validate_severity])
    summary = serializers.CharField(required=False, allow_blank=True, default="")
    triggered_at = AwareDateTimeField(required=False, allow_null=True, default=None)
    acknowledged_at = AwareDateTimeField(required=False, allow_null=True, default=None)
    mitigated_at = AwareDateTimeField(required=False, allow_null=True, default=None)
    resolved_at = AwareDateTimeField(required=False, allow_null=True, default=None)
    cancelled_at = AwareDateTimeField(required=False, allow_null=True, default=None)
    customer_impact = serializers.BooleanField(required=False, default=False)
    impacted_services = _service_field(many=True, required=False, default=list)
    commander = _user_field(required=False, allow_null=True, default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instants = {name: attrs.get(name) for name in history.INSTANT_FIELDS}
        if any(value is not None for name, value in instants.items() if name != "triggered_at"):
            instants["triggered_at"] = instants["triggered_at"] or timezone.now()
        errors = history.instant_errors(instants, now=timezone.now())
        if errors:
            raise serializers.ValidationError({name: [message] for name, message in errors.items()})
        return attrs


class IncidentUpdateSerializer(StrictSerializer):
    """Descriptive fields; the status changes only through the actions. Each change is logged."""

    title = serializers.CharField(max_length=255, required=False)
    summary = serializers.CharField(required=False, allow_blank=True)
    severity = serializers.CharField(max_length=8, required=False, validators=[validate_severity])
    commander = _user_field(required=False, allow_null=True)
    customer_impact = serializers.BooleanField(required=False)

    unknown_field_hint = "Status changes are the POST actions."


class TransitionSerializer(HistoryFieldsMixin, StrictSerializer):
    """Optional `at`: when it happened (defaults to now; never before the previous step, never in the future).

    `at` is an explicit timestamp: only with the incidents.import_incident_history permission, and audited.
    """

    history_fields = ("at",)

    at = AwareDateTimeField(required=False, allow_null=True, default=None)


class TransitionWithMessageSerializer(TransitionSerializer):
    message = serializers.CharField(required=False, allow_blank=True, default="")


class ReasonSerializer(TransitionSerializer):
    reason = serializers.CharField()


class NoteSerializer(TransitionSerializer):
    message = serializers.CharField()


# --- Integrations ----------------------------------------------------------------------


class UnknownRoutingValueSerializer(serializers.Serializer):
    value = serializers.CharField()
    count = serializers.IntegerField()
    last_seen_at = serializers.DateTimeField()


class IntegrationSerializer(StrictModelSerializer):
    """An alert source. The token is never readable: only its first characters (`token_prefix`)."""

    service = _service_field()
    severity_mapping = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text='Source severity to policy severity, e.g. {"critical": "SEV-1", "warning": "SEV-3"}.',
    )
    default_severity = serializers.CharField(max_length=8, required=False, validators=[validate_severity])
    kind = NarrowedChoiceField(  # answers list `monitoring` integrations too (created by opsgov itself)
        choices=EXTERNAL_KIND_CHOICES,
        all_choices=IntegrationKind.choices,
        help_text="alertmanager (webhook receiver), pagerduty or generic (PagerDuty Events API v2).",
    )
    routing_label = serializers.CharField(
        max_length=120,
        required=False,
        allow_blank=True,
        help_text="Where an alert names its service (slug or alias): an Alertmanager label name (default "
        "service), or for Events v2 payload.component (default) or custom_details.<key>. Empty: the kind's default.",
    )
    unknown_routing_values = serializers.SerializerMethodField(
        help_text="Routing-label values of the last 7 days that named no service (routed to `service`), "
        "most frequent first: [{value, count, last_seen_at}]."
    )

    class Meta:
        model = Integration
        fields = [
            "uuid",
            "name",
            "kind",
            "service",
            "enabled",
            "token_prefix",
            "severity_mapping",
            "default_severity",
            "auto_resolve",
            "routing_label",
            "unknown_routing_values",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["uuid", "token_prefix", "unknown_routing_values", "created_at", "updated_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        label = attrs.get("routing_label")
        if label:
            kind = attrs.get("kind") or (self.instance.kind if self.instance is not None else None)
            problem = routing_label_problem(kind, label.strip()) if kind else None
            if problem:
                raise serializers.ValidationError({"routing_label": problem})
        return attrs

    @extend_schema_field(UnknownRoutingValueSerializer(many=True))
    def get_unknown_routing_values(self, integration: Integration) -> list[dict[str, Any]]:
        return UnknownRoutingValueSerializer(unknown_routing_values(integration), many=True).data  # type: ignore[return-value]


class IntegrationWithTokenSerializer(IntegrationSerializer):
    """The answer to a create or a token rotation: the only time the token can be read."""

    token = serializers.SerializerMethodField(help_text="Shown once; store it now. Only its hash is kept.")
    ingest_url = serializers.SerializerMethodField(help_text="Where the source sends alerts (contains the token).")

    class Meta(IntegrationSerializer.Meta):
        fields = [*IntegrationSerializer.Meta.fields, "token", "ingest_url"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_token(self, integration: Integration) -> str:
        return str(self.context["token"])

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_ingest_url(self, integration: Integration) -> str | None:
        try:
            path = integration.ingest_path(self.context["token"])
        except NoReverseMatch:
            # The ingestion endpoints are not installed (yet): there is nowhere to send alerts.
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path
