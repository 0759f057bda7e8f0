"""The security alert queue: receive (Falco, generic webhook), acknowledge, triage, close; escalate true positives.

Receiving
---------
- Falco (``json_output: true``; its HTTP output posts one object per alert): ``rule``, ``priority``
  (Emergency, Alert, Critical, Error, Warning, Notice, Informational/Info, Debug), ``output``,
  ``time`` (nanoseconds; the sender's clock, shown only), ``hostname``, ``output_fields``, ``tags``.
  The service is the one whose slug is ``output_fields["k8s.ns.name"]``, else the longest slug
  that ``k8s.pod.name`` or ``container.name`` starts with (``checkout-web-7d9f`` -> checkout).
- Generic webhook: ``{"title": ..., "severity" or "priority": ..., "rule"?, "service"? (slug),
  "details"? (object), "time"? (ISO 8601)}``.
- A list of such objects is taken as many alerts, all or nothing.

Priority mapping (documented, fixed): Emergency, Alert, Critical -> critical; Error -> high;
Warning -> medium; Notice -> low; Informational, Info, Debug -> info. A webhook's severity word
goes through the scanners' normalisation (critical, high, medium/moderate, low, info).

Escalation: closing an alert as a true positive raises an opsgov.events ServiceAlert (source
"security", key ``security-alert:<id>``, details opsgov_kind=security and opsgov_commander = the
Security Lead who closed it, or the first active Security Lead), which incidents turns into an
incident: critical -> SEV-1, high -> SEV-2, others -> SEV-3. The alert needs a service for that.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from opsgov.events import DETAIL_COMMANDER, DETAIL_KIND, SECURITY_KIND, ServiceAlert, raise_alert
from opsgov.models import Service
from opsgov.roles import SECURITY_LEAD

from .models import AlertSource, AlertStatus, Disposition, SecurityAlert, Severity
from .parsers import FormatError, _instant, _obj, _str, normalise_severity
from .services import is_security_lead

FALCO_PRIORITIES = {
    "emergency": Severity.CRITICAL,
    "alert": Severity.CRITICAL,
    "critical": Severity.CRITICAL,
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "notice": Severity.LOW,
    "informational": Severity.INFO,
    "info": Severity.INFO,
    "debug": Severity.INFO,
}
INCIDENT_SEVERITY = {Severity.CRITICAL: "SEV-1", Severity.HIGH: "SEV-2"}
MAX_ALERTS_PER_REQUEST = 1000


def _service_for(fields: dict[str, Any]) -> Service | None:
    namespace = fields.get("k8s.ns.name")
    if isinstance(namespace, str) and namespace:
        found = Service.objects.filter(slug=namespace).first()
        if found is not None:
            return found
    for key in ("k8s.pod.name", "container.name"):
        name = fields.get(key)
        if isinstance(name, str) and name:
            candidates = [
                s for s in Service.objects.only("pk", "slug") if name == s.slug or name.startswith(f"{s.slug}-")
            ]
            if candidates:
                return max(candidates, key=lambda service: len(service.slug))
    return None


def _falco(data: dict[str, Any], path: str, now: datetime) -> SecurityAlert:
    priority = _str(data.get("priority"), f"{path}.priority", max_length=32)
    severity = FALCO_PRIORITIES.get(priority.lower())
    if severity is None:
        raise FormatError(f"{path}.priority", f"{priority!r} is not a Falco priority ({', '.join(FALCO_PRIORITIES)})")
    fields = data.get("output_fields") or {}
    fields = _obj(fields, f"{path}.output_fields")
    rule = _str(data.get("rule"), f"{path}.rule")
    return SecurityAlert(
        source=AlertSource.FALCO,
        rule=rule,
        title=rule,
        priority=priority,
        severity=severity,
        output=_str(data.get("output"), f"{path}.output", optional=True, max_length=20_000),
        hostname=_str(data.get("hostname"), f"{path}.hostname", optional=True, max_length=255),
        service=_service_for(fields),
        fields={"output_fields": fields, "tags": data.get("tags") or [], "source": data.get("source") or ""},
        payload=data,
        reported_at=_instant(data.get("time"), f"{path}.time"),
        received_at=now,
    )


def _webhook(data: dict[str, Any], path: str, now: datetime) -> SecurityAlert:
    title = _str(data.get("title"), f"{path}.title", max_length=500)
    word = data.get("severity", data.get("priority"))
    severity = normalise_severity(word) or (FALCO_PRIORITIES.get(word.lower()) if isinstance(word, str) else None)
    if severity is None:
        raise FormatError(f"{path}.severity", "expected critical, high, medium, low or info (or a Falco priority)")
    service = None
    if data.get("service") is not None:
        slug = _str(data.get("service"), f"{path}.service", max_length=64)
        service = Service.objects.filter(slug=slug).first()
        if service is None:
            raise FormatError(f"{path}.service", f"no service {slug!r}")
    details = _obj(data.get("details") or {}, f"{path}.details")
    return SecurityAlert(
        source=AlertSource.WEBHOOK,
        rule=_str(data.get("rule"), f"{path}.rule", optional=True) or title[:300],
        title=title,
        priority=str(word)[:32],
        severity=severity,
        output=_str(data.get("description"), f"{path}.description", optional=True, max_length=20_000),
        hostname=_str(data.get("host"), f"{path}.host", optional=True, max_length=255),
        service=service,
        fields=details,
        payload=data,
        reported_at=_instant(data.get("time"), f"{path}.time"),
        received_at=now,
    )


def parse_alerts(body: Any, *, now: datetime) -> list[SecurityAlert]:
    """Alerts (unsaved) from a Falco or generic-webhook body; FormatError with the field path otherwise."""
    items = body if isinstance(body, list) else [body]
    if not items:
        raise FormatError("$", "an empty list")
    if len(items) > MAX_ALERTS_PER_REQUEST:
        raise FormatError("$", f"more than {MAX_ALERTS_PER_REQUEST} alerts in one request")
    alerts = []
    for index, item in enumerate(items):
        path = f"$[{index}]" if isinstance(body, list) else "$"
        data = _obj(item, path)
        if "rule" in data and "priority" in data and "output" in data:
            alerts.append(_falco(data, path, now))
        elif "title" in data:
            alerts.append(_webhook(data, path, now))
        else:
            raise FormatError(path, "neither a Falco alert (rule, priority, output) nor a webhook alert (title)")
    return alerts


@transaction.atomic
def receive(*, body: Any, now: datetime | None = None) -> list[SecurityAlert]:
    now = now or timezone.now()
    alerts = parse_alerts(body, now=now)
    for alert in alerts:
        alert.full_clean()
    return SecurityAlert.objects.bulk_create(alerts)


@transaction.atomic
def record_signal(
    *, rule: str, title: str, severity: str, details: dict[str, Any], now: datetime | None = None
) -> SecurityAlert:
    """One of opsgov's own security signals (failed logins, lockouts, ...) joins the queue."""
    now = now or timezone.now()
    alert = SecurityAlert(
        source=AlertSource.OPSGOV,
        rule=rule,
        title=title[:500],
        priority=severity,
        severity=severity,
        fields=details,
        payload={"rule": rule, "title": title, "details": details},
        received_at=now,
    )
    alert.full_clean()
    alert.save()
    return alert


def _locked(alert: SecurityAlert) -> SecurityAlert:
    return SecurityAlert.objects.select_for_update().get(pk=alert.pk)


@transaction.atomic
def acknowledge(*, alert: SecurityAlert, actor: Any, now: datetime | None = None) -> SecurityAlert:
    now = now or timezone.now()
    alert = _locked(alert)
    if alert.status != AlertStatus.NEW:
        raise ValidationError({"status": f"Only a new alert can be acknowledged; this one is {alert.status}."})
    alert.status, alert.acknowledged_at, alert.acknowledged_by = AlertStatus.ACKNOWLEDGED, now, actor
    alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "updated_at"])
    return alert


@transaction.atomic
def triage(
    *, alert: SecurityAlert, actor: Any, notes: str = "", service: Service | None = None, now: datetime | None = None
) -> SecurityAlert:
    """Being looked into: acknowledges it too when it was new; may set its service."""
    now = now or timezone.now()
    alert = _locked(alert)
    if alert.status == AlertStatus.CLOSED:
        raise ValidationError({"status": "A closed alert cannot be triaged."})
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now, actor
    alert.status, alert.triaged_at = AlertStatus.TRIAGED, now
    if notes.strip():
        alert.notes = notes.strip()
    if service is not None:
        alert.service = service
    alert.save()
    return alert


def _commander(actor: Any) -> Any:
    if is_security_lead(actor):
        return actor
    return get_user_model().objects.filter(groups__name=SECURITY_LEAD, is_active=True).order_by("pk").first()


@transaction.atomic
def close(
    *,
    alert: SecurityAlert,
    actor: Any,
    disposition: str,
    notes: str = "",
    service: Service | None = None,
    now: datetime | None = None,
) -> SecurityAlert:
    """Close with a disposition; a true positive escalates to a security incident (module docstring)."""
    now = now or timezone.now()
    alert = _locked(alert)
    if alert.status == AlertStatus.CLOSED:
        raise ValidationError({"status": "This alert is closed already."})
    if disposition not in Disposition.values:
        raise ValidationError({"disposition": f"One of {', '.join(Disposition.values)}."})
    if service is not None:
        alert.service = service
    if disposition == Disposition.TRUE_POSITIVE and alert.service is None:
        raise ValidationError({"service": "Name the affected service: a true positive escalates to its incident."})
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now, actor
    alert.status, alert.closed_at, alert.closed_by, alert.disposition = AlertStatus.CLOSED, now, actor, disposition
    if notes.strip():
        alert.notes = notes.strip()
    if disposition == Disposition.TRUE_POSITIVE and alert.service is not None:
        commander = _commander(actor)
        alert.escalated_at = now
        alert.escalation_key = f"security-alert:{alert.pk}"
        raise_alert(
            ServiceAlert(
                service_id=alert.service.pk,
                key=alert.escalation_key,
                status="firing",
                severity=INCIDENT_SEVERITY.get(alert.severity, "SEV-3"),  # type: ignore[call-overload]
                title=f"Security: {alert.title}"[:255],
                at=now,
                source=SECURITY_KIND,
                summary=alert.output[:2000],
                details={
                    DETAIL_KIND: SECURITY_KIND,
                    DETAIL_COMMANDER: commander.get_username() if commander is not None else "",
                    "security_alert": alert.pk,
                    "rule": alert.rule,
                    "hostname": alert.hostname,
                },
            )
        )
    alert.full_clean()
    alert.save()
    return alert
