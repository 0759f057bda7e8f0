"""Incidents, their append-only timelines, alert integrations and the raw events they receive."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from opsgov.models import OutboxMessage, Service, TimeStampedModel
from opsgov.policy import get_policy


def validate_severity(value: str) -> None:
    """A severity must be one the effective policy defines (SEV-1..SEV-4 by default)."""
    defined = get_policy().incidents.severities
    if value not in defined:
        raise ValidationError(f"Unknown severity {value!r}; the policy defines {', '.join(defined)}.")


def severity_choices() -> list[tuple[str, str]]:
    return [(key, f"{key} — {level.description}") for key, level in get_policy().incidents.severities.items()]


class IncidentStatus(models.TextChoices):
    TRIGGERED = "triggered", "Triggered"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    MITIGATED = "mitigated", "Mitigated"
    RESOLVED = "resolved", "Resolved"
    CANCELLED = "cancelled", "Cancelled (false alarm)"

    @property
    def badge(self) -> str:
        return {
            "triggered": "danger",
            "acknowledged": "warning",
            "mitigated": "info",
            "resolved": "success",
            "cancelled": "muted",
        }[self.value]


OPEN_STATUSES = (IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED, IncidentStatus.MITIGATED)


class IntegrationKind(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
    PAGERDUTY = "pagerduty", "PagerDuty Events API v2"
    GENERIC = "generic", "Generic (PagerDuty Events v2 format)"
    MONITORING = "monitoring", "opsgov monitoring (SLO burn rates, checks; internal)"


#: The kinds an external source can be set up as; MONITORING integrations are created by
#: incidents.ingest.internal_alerts.
EXTERNAL_INTEGRATION_KINDS = (IntegrationKind.ALERTMANAGER, IntegrationKind.PAGERDUTY, IntegrationKind.GENERIC)


#: What an integration routes by when its routing_label is left empty (incidents.ingest.routing).
DEFAULT_ROUTING_LABELS: dict[str, str] = {
    IntegrationKind.ALERTMANAGER: "service",
    IntegrationKind.PAGERDUTY: "payload.component",
    IntegrationKind.GENERIC: "payload.component",
}
#: A Prometheus label name (https://prometheus.io/docs/concepts/data_model/).
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
#: Events v2: the payload's component, or a key of its custom_details.
_EVENTS_V2_LABEL = re.compile(r"^(payload\.component|custom_details\.[^\s.]{1,100})$")


def routing_label_problem(kind: str, label: str) -> str | None:
    """Why `label` cannot be the routing label of an integration of `kind`, or None if it can."""
    if kind == IntegrationKind.MONITORING:
        return None if label == "" else "Internal monitoring integrations route to their own service."
    if kind == IntegrationKind.ALERTMANAGER:
        if not _LABEL_NAME.match(label):
            return f"{label!r} is not an Alertmanager label name (letters, digits and _; e.g. service)."
        return None
    if not _EVENTS_V2_LABEL.match(label):
        return f"{label!r}: write payload.component or custom_details.<key> (e.g. custom_details.service)."
    return None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Integration(TimeStampedModel):
    """A source of alerts for one service, authenticated by a secret token stored hashed."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=IntegrationKind.choices)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="integrations")
    enabled = models.BooleanField(default=True)
    token_prefix = models.CharField(max_length=8, editable=False, help_text="First characters, to recognise a token.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    severity_mapping = models.JSONField(
        default=dict,
        blank=True,
        help_text='Source severity to policy severity, e.g. {"critical": "SEV-1", "warning": "SEV-3"}; '
        "merged over the defaults.",
    )
    default_severity = models.CharField(max_length=8, default="SEV-3", validators=[validate_severity])
    auto_resolve = models.BooleanField(
        default=True, help_text="Resolve the incident when the source reports the alert resolved."
    )
    routing_label = models.CharField(
        max_length=120,
        blank=True,
        help_text="Where an alert names its service (its slug or an alias): for Alertmanager a label name "
        "(default service); for Events v2 payload.component (default) or custom_details.<key>. A missing or "
        "unknown value goes to the integration's service.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            # incidents.ingest.internal_alerts: alerts raised inside opsgov go to the service's one internal
            # integration.
            models.UniqueConstraint(
                fields=["service"],
                condition=Q(kind="monitoring"),
                name="integration_one_monitoring_per_service",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def clean(self) -> None:
        if not self.routing_label and self.kind in DEFAULT_ROUTING_LABELS:
            self.routing_label = DEFAULT_ROUTING_LABELS[self.kind]
        self.routing_label = self.routing_label.strip()
        if self.kind in IntegrationKind.values:
            problem = routing_label_problem(self.kind, self.routing_label)
            if problem:
                raise ValidationError({"routing_label": problem})
        if not isinstance(self.severity_mapping, dict):
            raise ValidationError({"severity_mapping": "Must be an object of source severity to policy severity."})
        defined = get_policy().incidents.severities
        for source, target in self.severity_mapping.items():
            if target not in defined:
                raise ValidationError(
                    {"severity_mapping": f"{source!r} maps to unknown severity {target!r} ({', '.join(defined)})."}
                )

    def set_new_token(self) -> str:
        """Give the integration a fresh token; returns it (it is stored only as a hash)."""
        token = secrets.token_urlsafe(32)
        self.token_prefix = token[:8]
        self.token_hash = hash_token(token)
        return token

    def ingest_path(self, token: str) -> str:
        if self.kind == IntegrationKind.ALERTMANAGER:
            return reverse("ingest-alertmanager", kwargs={"token": token})
        return reverse("ingest-pagerduty", kwargs={"token": token})


class Incident(TimeStampedModel):
    """Something that hurts (or threatens) a service, from trigger to resolution.

    Shown as INC-<id>; integrations and links use the UUID. Transitions go through
    incidents.services, which validates them and writes the timeline.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = models.CharField(max_length=255)
    summary = models.TextField(blank=True)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="incidents")
    impacted_services = models.ManyToManyField(
        Service, blank=True, related_name="impacting_incidents", help_text="Other services affected."
    )
    severity = models.CharField(max_length=8, validators=[validate_severity])
    status = models.CharField(max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.TRIGGERED)
    triggered_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    mitigated_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="commanded_incidents"
    )
    customer_impact = models.BooleanField(default=False)
    during_maintenance = models.BooleanField(
        default=False,
        help_text="Triggered while an approved maintenance window of its service was open (set at the trigger). "
        "Counted in the metrics unless the policy's maintenance.maintenance_alerts_count_in_metrics is false.",
    )
    integration = models.ForeignKey(
        Integration, null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    dedup_key = models.CharField(max_length=255, blank=True)
    reopen_count = models.PositiveSmallIntegerField(default=0)
    # Escalation and the response target (incidents.oncall.escalation).
    escalation_policy = models.ForeignKey(
        "incidents.EscalationPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    escalation_level = models.PositiveSmallIntegerField(default=0, help_text="The last escalation level notified.")
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    response_due_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Acknowledge by then (the severity's response target, business time for SEV-4).",
    )
    response_met = models.BooleanField(null=True, blank=True, help_text="Empty until acknowledged or breached.")

    class Meta:
        ordering = ["-triggered_at", "-id"]
        constraints = [
            # Ingestion relies on this: at most one open incident per (integration, routed service,
            # dedup key), so concurrent deliveries of the same alert cannot open two, and one group
            # routed to two services opens one incident each (incidents.ingest.services, incidents.ingest.routing).
            models.UniqueConstraint(
                fields=["integration", "service", "dedup_key"],
                condition=Q(status__in=["triggered", "acknowledged", "mitigated"]) & ~Q(dedup_key=""),
                name="incident_one_open_per_service_key",
            ),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True) | Q(acknowledged_at__gte=F("triggered_at")),
                name="incident_ack_after_trigger",
            ),
            models.CheckConstraint(
                condition=Q(mitigated_at__isnull=True) | Q(mitigated_at__gte=F("triggered_at")),
                name="incident_mitigate_after_trigger",
            ),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(resolved_at__gte=F("triggered_at")),
                name="incident_resolve_after_trigger",
            ),
            models.CheckConstraint(
                condition=~Q(status="resolved") | Q(resolved_at__isnull=False),
                name="incident_resolved_has_time",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["triggered", "acknowledged", "mitigated", "resolved", "cancelled"]),
                name="incident_status_valid",
            ),
        ]
        indexes = [
            # Metrics windows (MTTA by trigger time) and the incident list's default order.
            models.Index(fields=["triggered_at"], name="incident_triggered_idx"),
            models.Index(fields=["service", "triggered_at"], name="incident_service_trig_idx"),
            # The escalation beat task: incidents whose next level is due.
            models.Index(
                fields=["next_escalation_at"],
                name="incident_escalation_due_idx",
                condition=Q(next_escalation_at__isnull=False),
            ),
            # incidents.metrics: incidents changed since the rollup watermark.
            models.Index(fields=["updated_at"], name="incident_updated_idx"),
            # MTTR windows (by resolution time).
            models.Index(fields=["resolved_at"], name="incident_resolved_idx", condition=Q(resolved_at__isnull=False)),
            # Open incidents on the dashboard, and the ingestion lookup by dedup key across the routed
            # services (an Events v2 acknowledge or resolve carries no routing label).
            models.Index(
                fields=["integration", "dedup_key"],
                name="incident_open_dedup_idx",
                condition=Q(status__in=["triggered", "acknowledged", "mitigated"]),
            ),
        ]
        # Past instants (triggered_at, acknowledged_at, ... or an action's `at`) through the API;
        # granted by opsgov.roles. import_incidents runs from the shell and needs no permission.
        permissions = [("import_incident_history", "Can record incidents with explicit (historical) timestamps")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.title}"

    @property
    def public_id(self) -> str:
        return f"INC-{self.pk}" if self.pk else "INC-?"

    def get_absolute_url(self) -> str:
        return reverse("incident-detail", kwargs={"number": self.pk})

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def status_badge(self) -> str:
        return IncidentStatus(self.status).badge


class TimelineKind(models.TextChoices):
    TRIGGERED = "triggered", "Triggered"
    STATUS = "status", "Status change"
    REOPENED = "reopened", "Reopened"
    NOTE = "note", "Note"
    SIGNAL = "signal", "Signal received"
    NOTIFICATION = "notification", "Notification"
    FIELD = "field", "Field changed"


class TimelineEvent(models.Model):
    """One append-only entry in an incident's timeline: a status change, a note, a signal..."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=16, choices=TimelineKind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["incident", "at"], name="timeline_incident_at_idx")]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.kind} at {self.at:%Y-%m-%d %H:%M:%S}"


class SignalKind(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Alertmanager alert"
    EVENTS_V2 = "events_v2", "Events v2 trigger"


class AlertSignal(models.Model):
    """One alert of an incident, aggregated: how often it was received, first and last seen, its last status.

    One row per (incident, kind, fingerprint): the Alertmanager `fingerprint`, or
    the Events v2 `dedup_key`. Written by incidents.ingest.services in the processing
    transaction, under the incident's row lock (count + 1, last_seen, last
    status and data), so a webhook of 10,000 alerts adds 10,000 rows here but
    only one timeline entry ("10000 alerts received"). The incident page and
    API list them paginated ("Signals"); `data` is the latest signal as the
    timeline entries carry it, which incidents.context reads.
    """

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="alert_signals")
    kind = models.CharField(max_length=16, choices=SignalKind.choices)
    fingerprint = models.CharField(max_length=255, help_text="Alertmanager fingerprint, or the Events v2 dedup_key.")
    name = models.CharField(max_length=255, blank=True, help_text="alertname, or the Events v2 summary.")
    count = models.PositiveIntegerField(default=1, help_text="Notifications received that carried it.")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    last_status = models.CharField(max_length=16, help_text="firing or resolved; trigger for Events v2.")
    labels = models.JSONField(default=dict, blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="The latest signal, as a timeline entry carries it.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [
            # The upsert's key (incidents.ingest.services); its index serves the per-webhook lookup of known
            # fingerprints.
            models.UniqueConstraint(fields=["incident", "kind", "fingerprint"], name="alert_signal_per_fingerprint"),
        ]
        indexes = [
            # The incident page's and API's Signals list, newest first; incidents.context reads the newest.
            models.Index(fields=["incident", "-last_seen", "-id"], name="alert_signal_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.fingerprint} {self.last_status} x{self.count}"


class RawEvent(models.Model):
    """An ingested payload exactly as received, stored before the 202 answer.

    Processing (grouping into incidents) happens in a Celery task; the sweeper
    re-enqueues rows still unprocessed, so a broker outage loses nothing.

    Every row ends in one of two states: processed (`processed_at` set: it took
    effect) or dead-lettered (`dead_lettered_at` set: processing failed
    incidents.ingest.services.MAX_ATTEMPTS times). A dead-lettered event stays unprocessed, is
    never re-enqueued by the sweeper, is listed on the dead-letter page and API
    and fails the incident-management gate until someone replays it
    (incidents.ingest.dead_letters); a replayed event that fails again returns to the list.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No index of its own: rawevent_key_idx starts with it (every insert maintains each index).
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="raw_events", db_index=False)
    received_at = models.DateTimeField(default=timezone.now)
    dedup_key = models.CharField(max_length=255, help_text="Group key / dedup key the event applies to.")
    action = models.CharField(max_length=16, help_text="trigger, acknowledge or resolve")
    payload = models.JSONField()
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="raw_events", db_index=False
    )
    # The dead-letter list (incidents.ingest.dead_letters).
    dead_lettered_at = models.DateTimeField(
        null=True, blank=True, help_text="When processing was given up after the last allowed attempt; empty otherwise."
    )
    dead_letter_notified_at = models.DateTimeField(
        null=True, blank=True, help_text="When the owners were told about the dead letter."
    )
    replay_count = models.PositiveSmallIntegerField(default=0, help_text="Times it was replayed from the dead letters.")
    replayed_at = models.DateTimeField(null=True, blank=True)
    replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The sweeper scans only unprocessed rows.
            models.Index(
                fields=["received_at"], name="rawevent_unprocessed_idx", condition=Q(processed_at__isnull=True)
            ),
            # The dead-letter list, its gate evidence and the owners' notification (incidents.ingest.dead_letters).
            models.Index(
                fields=["integration", "dead_lettered_at"],
                name="rawevent_dead_letter_idx",
                condition=Q(dead_lettered_at__isnull=False),
            ),
            # Processing applies earlier unprocessed events of the same key first.
            models.Index(fields=["integration", "dedup_key", "id"], name="rawevent_key_idx"),
            # An incident's raw events, and SET NULL when it is deleted; events are stored without one
            # (the ingestion insert maintains no entry here) and get it when processed.
            models.Index(fields=["incident"], name="rawevent_incident_idx", condition=Q(incident__isnull=False)),
        ]

        # incidents.ingest.dead_letters.replay; granted to the SRE Lead by opsgov.roles ("incidents.*").
        permissions = [("replay_rawevent", "Can replay dead-lettered raw events")]

    def __str__(self) -> str:
        return f"{self.action} {self.dedup_key} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class DeadLetterNotice(OutboxMessage):
    """The e-mail telling an integration's owners about its new dead letters (incidents.ingest.dead_letters),
    written when they are claimed as told, then delivered through the outbox (opsgov.outbox): claimed once,
    retried with backoff, failed after the last attempt for a person to look at."""

    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="dead_letter_notices")
    events = models.PositiveIntegerField(help_text="Dead letters the message tells about.")
    recipients = models.JSONField(default=list, help_text="E-mail addresses, as resolved when it was written.")
    subject = models.CharField(max_length=255)
    body = models.TextField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="deadletternotice_due_idx")]

    def __str__(self) -> str:
        return self.subject


class UnknownRoutingValue(models.Model):
    """A routing-label value that matched no service, counted per integration and UTC day (incidents.ingest.routing).

    Written at processing time (an upsert per event and value), read by the
    integration page and API for the last 7 days. Bounded: routing counts at
    most incidents.ingest.routing.MAX_VALUES_PER_DAY distinct values per integration and day
    (the rest under routing.OTHER_VALUES) and deletes days older than
    routing.KEEP_DAYS when it writes a day's first row.
    """

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="unknown_routing_values")
    day = models.DateField()
    value = models.CharField(max_length=255)
    count = models.PositiveIntegerField(default=0, help_text="Events that carried the value that day.")
    last_seen_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["integration", "-day", "value"]
        constraints = [
            # The upsert's key; its index also serves the 7-day read of one integration.
            models.UniqueConstraint(fields=["integration", "day", "value"], name="unknown_routing_value_cell"),
        ]

    def __str__(self) -> str:
        return f"{self.integration_id} {self.day} {self.value!r}: {self.count}"


# --- Metric rollups (incidents.metrics) ------------------------------------------------


class IncidentDayRollup(models.Model):
    """Per-day sums behind MTTA, MTTR and MTBF, maintained by ``incidents.metrics.refresh_rollups``.

    One row per (UTC trigger day, UTC resolve day, service, severity, during
    maintenance or not) of the incidents that are not cancelled. Every
    contribution of an incident lives in rows of its trigger day, which never
    changes, so recomputing that whole day
    from the incident rows removes a stale contribution (a resolution moved to
    another day, a reopen that cleared it, a new severity or service) exactly.
    """

    trigger_day = models.DateField()
    resolve_day = models.DateField(null=True, blank=True, help_text="Empty for incidents not resolved.")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    severity = models.CharField(max_length=8)
    during_maintenance = models.BooleanField(default=False, help_text="Incidents triggered during maintenance.")
    triggered = models.PositiveIntegerField(default=0, help_text="Incidents triggered that day.")
    acknowledged = models.PositiveIntegerField(default=0, help_text="Of those, acknowledged.")
    ack_seconds = models.FloatField(default=0, help_text="Sum of (acknowledged_at - triggered_at).")
    resolved = models.PositiveIntegerField(default=0, help_text="Of those, resolved on resolve_day.")
    resolve_seconds = models.FloatField(default=0, help_text="Sum of (resolved_at - triggered_at).")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["trigger_day", "resolve_day", "service", "severity", "during_maintenance"],
                name="incident_rollup_cell_unique",
            ),
        ]
        indexes = [
            # MTTR windows sum the rows resolved on the window's days.
            models.Index(
                fields=["resolve_day"], name="incident_rollup_resolve_idx", condition=Q(resolve_day__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trigger_day}/{self.resolve_day} service {self.service_id} {self.severity}: {self.triggered}"


class IncidentRollupState(models.Model):
    """The single row that says how far the rollups are up to date (see incidents.metrics)."""

    watermark = models.DateTimeField(
        null=True, blank=True, help_text="Incident changes with updated_at up to this instant are in the rollups."
    )
    built_at = models.DateTimeField(null=True, blank=True, help_text="Last rebuild from scratch.")
    refreshed_at = models.DateTimeField(null=True, blank=True)
    last_full = models.BooleanField(default=False, help_text="Whether the last refresh rebuilt every day.")
    last_days = models.PositiveIntegerField(default=0, help_text="Trigger days recomputed by the last refresh.")
    last_rows = models.PositiveIntegerField(default=0, help_text="Rollup rows written by the last refresh.")
    last_seconds = models.FloatField(default=0, help_text="Duration of the last refresh.")

    def __str__(self) -> str:
        return f"incident rollups up to {self.watermark}"


class IncidentRollupDirtyDay(models.Model):
    """A trigger day to recompute at the next refresh (an incident of that day was deleted)."""

    day = models.DateField(unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return str(self.day)
