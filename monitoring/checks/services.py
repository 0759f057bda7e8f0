"""Synthetic checks: the services that create, run and judge HTTP checks and heartbeats.

After healthchecks.io (hc/api/models.py, hc/api/management/commands/sendalerts.py):

HTTP checks
    Beat calls `claim_due_http_checks` every 15 s: each enabled check whose
    `next_run_at` has come is claimed with a conditional UPDATE of
    `next_run_at` (only the runner whose UPDATE matched the old value runs
    it), then one `run_http_check` task per claimed check requests the URL
    with a strict total timeout and hands the outcome to `record_http_result`,
    which in one transaction stores the result (once per claimed run: a
    redelivered task changes nothing), moves the status, raises or resolves
    the alert and feeds the linked SLO's 1-minute SLI bucket.

    new --(run ok)--> up --(failure_threshold failed runs in a row)--> down --(run ok)--> up
    Pausing (enabled = False) from any status --> paused; resuming --> new.

Heartbeats
    Jobs ping /ping/<uuid> (success), /ping/<uuid>/start and /ping/<uuid>/fail.
    A heartbeat is late when no success ping came `period + grace` after the
    last one, or when a job that pinged /start did not finish within `grace`
    (its `alert_after`). Beat calls `detect_late_heartbeats` every 30 s, which
    claims each late heartbeat with a conditional UPDATE of its status and
    deadline, so it goes down (and alerts) exactly once however many runners
    race. A /fail ping takes it down at once; a success ping brings it up and
    resolves the alert. Pings to a paused heartbeat are logged and ignored
    until someone resumes it (--> new).

Alerts follow opsgov.events' contract: one `firing` when a check goes down,
one `resolved` when it comes back (or is paused or deleted while down), raised
inside the transaction that records the flip. Keys: `check:<uuid>` and
`heartbeat:<uuid>`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from opsgov.errors import DomainError
from opsgov.events import ServiceAlert, raise_alert
from opsgov.models import Service

from ..models import (
    SLO,
    CheckFlip,
    CheckStatus,
    FlipReason,
    Heartbeat,
    HeartbeatPing,
    HttpCheck,
    HttpCheckResult,
    HttpMethod,
    PingKind,
    SLIBucket,
    SLIKind,
    SLISource,
)
from ..slos.sli import SLIReading, record_sli
from . import targets

logger = logging.getLogger(__name__)

#: HTTP check results older than this are pruned (prune_check_history, hourly).
RESULT_RETENTION = timedelta(days=7)
#: Pings kept per heartbeat (the newest); older ones are pruned.
PING_LOG_LIMIT = 100
#: Bytes of a ping's body that are stored; the rest is read no further.
PING_BODY_LIMIT = 10 * 1024
#: Most checks claimed (or heartbeats flipped) by one beat run; the rest wait for the next run.
CLAIM_BATCH = 500
#: The User-Agent of HTTP check requests.
USER_AGENT = "opsgov-check/1"

HTTP_CHECK_FIELDS = (
    "service",
    "name",
    "url",
    "method",
    "expected_status_min",
    "expected_status_max",
    "timeout_ms",
    "interval_seconds",
    "failure_threshold",
    "severity",
    "slo",
    "enabled",
)
HEARTBEAT_FIELDS = ("service", "name", "description", "period", "grace", "severity")
#: The fields runs and pings write (status, deadlines, last results, counters): history rather than
#: configuration, so the API and the admin only show them and the audit trail leaves them out.
HTTP_CHECK_STATE_FIELDS = (
    "status",
    "consecutive_failures",
    "next_run_at",
    "last_run_at",
    "last_ok",
    "last_status_code",
    "last_latency_ms",
    "last_error",
)
HEARTBEAT_STATE_FIELDS = ("status", "last_ping_at", "last_start_at", "alert_after", "n_pings")


def _apply(instance: Any, data: dict[str, Any], allowed: Iterable[str]) -> None:
    unknown = set(data) - set(allowed)
    if unknown:
        raise DomainError(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    for field, value in data.items():
        setattr(instance, field, value)


def _store_state(instance: HttpCheck | Heartbeat, fields: Iterable[str]) -> None:
    """Write the fields a run or a ping changes with one UPDATE (no audit diff: it is not configuration)."""
    values = {name: getattr(instance, name) for name in fields}
    type(instance).objects.filter(pk=instance.pk).update(**values, updated_at=timezone.now())


def _refuse_moving_while_down(instance: HttpCheck | Heartbeat, old_service_id: int) -> None:
    if instance.service_id != old_service_id and instance.status == CheckStatus.DOWN:
        raise DomainError(
            "It is down, and its open incident belongs to its current service: pause it (which resolves the "
            "incident) before moving it to another service.",
            field="service",
        )


def _record_flip(
    *,
    at: datetime,
    old: str,
    new: str,
    reason: FlipReason,
    details: str = "",
    http_check: HttpCheck | None = None,
    heartbeat: Heartbeat | None = None,
) -> CheckFlip:
    return CheckFlip.objects.create(
        http_check=http_check,
        heartbeat=heartbeat,
        at=at,
        old_status=old,
        new_status=new,
        reason=reason,
        details=details[:500],
    )


def _http_alert(check: HttpCheck, *, status: str, at: datetime, summary: str) -> None:
    raise_alert(
        ServiceAlert(
            service_id=check.service_id,
            key=check.alert_key,
            status=status,  # type: ignore[arg-type]
            severity=check.severity,
            title=f"HTTP check “{check.name}” is down",
            at=at,
            source="http-check",
            summary=summary,
            details={"check": str(check.uuid), "url": check.url, "method": check.method},
        )
    )


def _heartbeat_alert(heartbeat: Heartbeat, *, status: str, at: datetime, title: str, summary: str) -> None:
    raise_alert(
        ServiceAlert(
            service_id=heartbeat.service_id,
            key=heartbeat.alert_key,
            status=status,  # type: ignore[arg-type]
            severity=heartbeat.severity,
            title=title,
            at=at,
            source="heartbeat",
            summary=summary,
            details={"heartbeat": heartbeat.name, "period_seconds": int(heartbeat.period.total_seconds())},
        )
    )


# --- HTTP checks: records ------------------------------------------------------------------


@transaction.atomic
def http_check_create(
    *,
    service: Service,
    name: str,
    url: str,
    method: str = HttpMethod.GET,
    expected_status_min: int = 200,
    expected_status_max: int = 299,
    timeout_ms: int = 5000,
    interval_seconds: int = 60,
    failure_threshold: int = 2,
    severity: str = "SEV-3",
    slo: SLO | None = None,
    enabled: bool = True,
    now: datetime | None = None,
) -> HttpCheck:
    """A new check, due at once (or paused when created disabled)."""
    now = now or timezone.now()
    check = HttpCheck(
        service=service,
        name=name,
        url=url,
        method=method,
        expected_status_min=expected_status_min,
        expected_status_max=expected_status_max,
        timeout_ms=timeout_ms,
        interval_seconds=interval_seconds,
        failure_threshold=failure_threshold,
        severity=severity,
        slo=slo,
        enabled=enabled,
        status=CheckStatus.NEW if enabled else CheckStatus.PAUSED,
        next_run_at=now if enabled else None,
    )
    check.full_clean()
    _vet_target(check.url)
    check.save()
    return check


def _vet_target(url: str) -> None:
    """A DomainError on `url` when the policy forbids requesting its host (monitoring.checks.targets)."""
    try:
        targets.vet_url(url)
    except targets.TargetRefused as exc:
        raise DomainError(str(exc), field="url") from None


def _pause_http(check: HttpCheck, *, now: datetime, actor_name: str) -> None:
    old = check.status
    check.status = CheckStatus.PAUSED
    check.next_run_at = None
    check.consecutive_failures = 0
    if old != CheckStatus.PAUSED:
        _record_flip(http_check=check, at=now, old=old, new=CheckStatus.PAUSED, reason=FlipReason.PAUSED)
    if old == CheckStatus.DOWN:
        _http_alert(check, status="resolved", at=now, summary=f"Check paused{actor_name}; no longer watched.")


def _resume_http(check: HttpCheck, *, now: datetime) -> None:
    old = check.status
    check.status = CheckStatus.NEW
    check.next_run_at = now
    check.consecutive_failures = 0
    if old != CheckStatus.NEW:
        _record_flip(http_check=check, at=now, old=old, new=CheckStatus.NEW, reason=FlipReason.RESUMED)


def _by(actor: Any) -> str:
    username = getattr(actor, "get_username", None)
    return f" by {username()}" if callable(username) else ""


@transaction.atomic
def http_check_update(
    *, check: HttpCheck, data: dict[str, Any], actor: Any = None, now: datetime | None = None
) -> HttpCheck:
    """Change a check; `enabled` pauses or resumes it, a shorter interval brings its next run forward."""
    now = now or timezone.now()
    locked = HttpCheck.objects.select_for_update().get(pk=check.pk)
    was_enabled, old_interval, old_service_id = locked.enabled, locked.interval_seconds, locked.service_id
    old_url = locked.url
    _apply(locked, data, HTTP_CHECK_FIELDS)
    locked.full_clean()
    if locked.url != old_url:  # pausing a check whose URL the policy now refuses must still work
        _vet_target(locked.url)
    _refuse_moving_while_down(locked, old_service_id)
    if was_enabled and not locked.enabled:
        _pause_http(locked, now=now, actor_name=_by(actor))
    elif locked.enabled and not was_enabled:
        _resume_http(locked, now=now)
    elif locked.enabled and locked.interval_seconds != old_interval:
        sooner = now + timedelta(seconds=locked.interval_seconds)
        if locked.next_run_at is None or locked.next_run_at > sooner:
            locked.next_run_at = sooner
    locked.save()
    return locked


def http_check_pause(*, check: HttpCheck, actor: Any = None, now: datetime | None = None) -> HttpCheck:
    return http_check_update(check=check, data={"enabled": False}, actor=actor, now=now)


def http_check_resume(*, check: HttpCheck, actor: Any = None, now: datetime | None = None) -> HttpCheck:
    return http_check_update(check=check, data={"enabled": True}, actor=actor, now=now)


@transaction.atomic
def http_check_delete(*, check: HttpCheck, actor: Any = None, now: datetime | None = None) -> None:
    """Delete a check with its history; a down check's alert is resolved first."""
    locked = HttpCheck.objects.select_for_update().get(pk=check.pk)
    if locked.status == CheckStatus.DOWN:
        _http_alert(locked, status="resolved", at=now or timezone.now(), summary=f"Check deleted{_by(actor)}.")
    locked.delete()


# --- HTTP checks: running ------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """What one request to a check's URL found."""

    at: datetime
    ok: bool
    status_code: int | None
    latency_ms: int | None
    error: str


async def _request(method: str, url: str, timeout: float) -> int:
    """Send the request and return the status code once the response headers are in (the body is not read).

    The host is resolved and vetted first, and the request sent to the vetted address (monitoring.checks.targets).
    """
    target, headers, extensions = await targets.pinned_request(url)
    async with (
        httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,  # a check measures the direct path, not a proxy configured for this process
            headers={"User-Agent": USER_AGENT},
        ) as client,
        client.stream(method, target, headers=headers, extensions=extensions) as response,
    ):
        return response.status_code


def probe_http(*, method: str, url: str, timeout_ms: int, expected: tuple[int, int]) -> Probe:
    """Request `url` once, with a strict total deadline of `timeout_ms` (connect, send and wait for headers)."""
    at = timezone.now()
    started = time.monotonic()
    timeout = timeout_ms / 1000
    try:
        status_code = asyncio.run(asyncio.wait_for(_request(method, url, timeout), timeout))
    except (TimeoutError, httpx.TimeoutException):
        return Probe(at=at, ok=False, status_code=None, latency_ms=None, error=f"Timed out after {timeout_ms} ms.")
    except targets.TargetRefused as exc:
        return Probe(at=at, ok=False, status_code=None, latency_ms=None, error=f"Not requested: {exc}")
    except httpx.HTTPError as exc:
        message = str(exc) or type(exc).__name__
        return Probe(at=at, ok=False, status_code=None, latency_ms=None, error=f"{type(exc).__name__}: {message}")
    latency_ms = round((time.monotonic() - started) * 1000)
    low, high = expected
    if low <= status_code <= high:
        return Probe(at=at, ok=True, status_code=status_code, latency_ms=latency_ms, error="")
    wanted = str(low) if low == high else f"{low}\u2013{high}"
    return Probe(
        at=at,
        ok=False,
        status_code=status_code,
        latency_ms=latency_ms,
        error=f"Answered {status_code}; expected {wanted}.",
    )


@dataclass(frozen=True)
class ClaimedRun:
    check_id: int
    scheduled_for: datetime
    next_run_at: datetime


def claim_due_http_checks(*, now: datetime | None = None, limit: int = CLAIM_BATCH) -> list[ClaimedRun]:
    """Claim the runs of enabled checks due by `now` (oldest first); each run is claimed by one caller only.

    A claim moves `next_run_at` on by the check's interval (from the due time,
    or from now when the check fell more than an interval behind) with a
    conditional UPDATE on the old value: of two runners racing, one matches.
    """
    now = now or timezone.now()
    due = list(
        HttpCheck.objects.filter(enabled=True, next_run_at__lte=now)
        .order_by("next_run_at")
        .values_list("pk", "next_run_at", "interval_seconds")[:limit]
    )
    claimed = []
    for pk, scheduled_for, interval_seconds in due:
        assert scheduled_for is not None  # filtered on next_run_at__lte
        interval = timedelta(seconds=interval_seconds)
        next_run_at = scheduled_for + interval
        if next_run_at <= now:
            next_run_at = now + interval
        updated = HttpCheck.objects.filter(pk=pk, enabled=True, next_run_at=scheduled_for).update(
            next_run_at=next_run_at
        )
        if updated == 1:
            claimed.append(ClaimedRun(check_id=pk, scheduled_for=scheduled_for, next_run_at=next_run_at))
    return claimed


def release_http_check_run(run: ClaimedRun) -> bool:
    """Give back a claimed run that could not be enqueued (broker down), so the next beat claims it again."""
    return (
        HttpCheck.objects.filter(pk=run.check_id, enabled=True, next_run_at=run.next_run_at).update(
            next_run_at=run.scheduled_for
        )
        == 1
    )


def run_http_check(*, check_id: int, scheduled_for: datetime) -> HttpCheckResult | None:
    """Run one claimed run of a check: request its URL, then record the outcome.

    Nothing happens for a check deleted or paused since, or a run already recorded (a redelivered task).
    """
    check = HttpCheck.objects.filter(pk=check_id, enabled=True).first()
    if check is None:
        return None
    done = HttpCheckResult.objects.filter(http_check=check, scheduled_for=scheduled_for).first()
    if done is not None:
        return done
    probe = probe_http(
        method=check.method,
        url=check.url,
        timeout_ms=check.timeout_ms,
        expected=(check.expected_status_min, check.expected_status_max),
    )
    return record_http_result(check=check, scheduled_for=scheduled_for, probe=probe)


@transaction.atomic
def record_http_result(*, check: HttpCheck, scheduled_for: datetime, probe: Probe) -> HttpCheckResult | None:
    """Store one run's outcome and apply it: status, flip, alert and SLI, all in this transaction.

    Idempotent per run (check, scheduled_for): a second call returns the stored
    result and changes nothing. A paused or deleted check records nothing.
    """
    locked = HttpCheck.objects.select_for_update().filter(pk=check.pk).first()
    if locked is None or locked.status == CheckStatus.PAUSED:
        return None
    existing = HttpCheckResult.objects.filter(http_check=locked, scheduled_for=scheduled_for).first()
    if existing is not None:
        return existing
    result = HttpCheckResult.objects.create(
        http_check=locked,
        scheduled_for=scheduled_for,
        checked_at=probe.at,
        ok=probe.ok,
        status_code=probe.status_code,
        latency_ms=probe.latency_ms,
        error=probe.error[:500],
    )
    if locked.last_run_at is None or probe.at >= locked.last_run_at:
        locked.last_run_at = probe.at
        locked.last_ok = probe.ok
        locked.last_status_code = probe.status_code
        locked.last_latency_ms = probe.latency_ms
        locked.last_error = probe.error[:500]
    old = locked.status
    if probe.ok:
        locked.consecutive_failures = 0
        if old != CheckStatus.UP:
            locked.status = CheckStatus.UP
            _record_flip(http_check=locked, at=probe.at, old=old, new=CheckStatus.UP, reason=FlipReason.CHECK_OK)
            if old == CheckStatus.DOWN:
                _http_alert(locked, status="resolved", at=probe.at, summary=f"Answered {probe.status_code} again.")
    else:
        locked.consecutive_failures += 1
        if old != CheckStatus.DOWN and locked.consecutive_failures >= locked.failure_threshold:
            locked.status = CheckStatus.DOWN
            summary = f"{locked.consecutive_failures} failed runs in a row; last: {probe.error}"
            _record_flip(
                http_check=locked,
                at=probe.at,
                old=old,
                new=CheckStatus.DOWN,
                reason=FlipReason.CHECK_FAILED,
                details=probe.error,
            )
            _http_alert(locked, status="firing", at=probe.at, summary=f"{locked.method} {locked.url}: {summary}")
    _store_state(
        locked,
        [
            "status",
            "consecutive_failures",
            "last_run_at",
            "last_ok",
            "last_status_code",
            "last_latency_ms",
            "last_error",
        ],
    )
    if locked.slo_id is not None:
        _feed_sli(slo_id=locked.slo_id, probe=probe)
    return result


def sli_good(slo: SLO, probe: Probe) -> int:
    """1 when the run is a good SLI event: it succeeded (and, for a latency SLI, answered within the threshold)."""
    if not probe.ok:
        return 0
    if slo.sli_kind == SLIKind.LATENCY:
        threshold = slo.latency_threshold_ms or 0
        return 1 if probe.latency_ms is not None and probe.latency_ms <= threshold else 0
    return 1


def _feed_sli(*, slo_id: int, probe: Probe) -> None:
    """Add the run to its minute's SLI bucket: read the bucket and write the new totals under the SLO's row lock.

    The lock serialises every check feeding the same SLO, so no two runs of a
    minute overwrite each other's counts.
    """
    slo = SLO.objects.select_for_update().filter(pk=slo_id).first()
    if slo is None or slo.source != SLISource.CHECK:
        logger.warning("SLO %s is no longer fed by checks; the run is not counted.", slo_id)
        return
    start = probe.at.replace(second=0, microsecond=0)
    good, total = SLIBucket.objects.filter(slo=slo, start=start).values_list("good", "total").first() or (0, 0)
    record_sli(
        slo=slo,
        readings=[SLIReading(start=start, good=good + sli_good(slo, probe), total=total + 1)],
        now=max(timezone.now(), probe.at),
    )


# --- Heartbeats ----------------------------------------------------------------------------


def heartbeat_deadline(heartbeat: Heartbeat) -> datetime | None:
    """When the heartbeat becomes late if no ping arrives first; None while new (never pinged), down or paused."""
    if heartbeat.status in (CheckStatus.DOWN, CheckStatus.PAUSED):
        return None
    candidates = []
    if heartbeat.status == CheckStatus.UP and heartbeat.last_ping_at is not None:
        candidates.append(heartbeat.last_ping_at + heartbeat.period + heartbeat.grace)
    if heartbeat.last_start_at is not None:
        candidates.append(heartbeat.last_start_at + heartbeat.grace)
    return min(candidates) if candidates else None


@transaction.atomic
def heartbeat_create(
    *,
    service: Service,
    name: str,
    description: str = "",
    period: timedelta = timedelta(days=1),
    grace: timedelta = timedelta(hours=1),
    severity: str = "SEV-3",
) -> Heartbeat:
    """A new heartbeat (status new: it is watched from its first ping on)."""
    heartbeat = Heartbeat(
        service=service, name=name, description=description, period=period, grace=grace, severity=severity
    )
    heartbeat.full_clean()
    heartbeat.save()
    return heartbeat


@transaction.atomic
def heartbeat_update(*, heartbeat: Heartbeat, data: dict[str, Any]) -> Heartbeat:
    """Change a heartbeat; a new period or grace moves its deadline."""
    locked = Heartbeat.objects.select_for_update().get(pk=heartbeat.pk)
    old_service_id = locked.service_id
    _apply(locked, data, HEARTBEAT_FIELDS)
    locked.full_clean()
    _refuse_moving_while_down(locked, old_service_id)
    locked.alert_after = heartbeat_deadline(locked)
    locked.save()
    return locked


@transaction.atomic
def heartbeat_pause(*, heartbeat: Heartbeat, actor: Any = None, now: datetime | None = None) -> Heartbeat:
    """Stop watching: pings are logged and ignored until it is resumed; a down heartbeat's alert is resolved."""
    now = now or timezone.now()
    locked = Heartbeat.objects.select_for_update().get(pk=heartbeat.pk)
    old = locked.status
    if old == CheckStatus.PAUSED:
        return locked
    locked.status = CheckStatus.PAUSED
    locked.alert_after = None
    locked.save(update_fields=["status", "alert_after", "updated_at"])
    _record_flip(heartbeat=locked, at=now, old=old, new=CheckStatus.PAUSED, reason=FlipReason.PAUSED)
    if old == CheckStatus.DOWN:
        _heartbeat_alert(
            locked,
            status="resolved",
            at=now,
            title=f"Heartbeat “{locked.name}” paused",
            summary=f"Paused{_by(actor)}; no longer watched.",
        )
    return locked


@transaction.atomic
def heartbeat_resume(*, heartbeat: Heartbeat, now: datetime | None = None) -> Heartbeat:
    """Watch again from the next ping on (status new)."""
    now = now or timezone.now()
    locked = Heartbeat.objects.select_for_update().get(pk=heartbeat.pk)
    if locked.status != CheckStatus.PAUSED:
        return locked
    locked.status = CheckStatus.NEW
    locked.last_start_at = None
    locked.alert_after = None
    locked.save(update_fields=["status", "last_start_at", "alert_after", "updated_at"])
    _record_flip(heartbeat=locked, at=now, old=CheckStatus.PAUSED, new=CheckStatus.NEW, reason=FlipReason.RESUMED)
    return locked


@transaction.atomic
def heartbeat_delete(*, heartbeat: Heartbeat, actor: Any = None, now: datetime | None = None) -> None:
    """Delete a heartbeat with its pings and flips; a down heartbeat's alert is resolved first."""
    locked = Heartbeat.objects.select_for_update().get(pk=heartbeat.pk)
    if locked.status == CheckStatus.DOWN:
        _heartbeat_alert(
            locked,
            status="resolved",
            at=now or timezone.now(),
            title=f"Heartbeat “{locked.name}” deleted",
            summary=f"Deleted{_by(actor)}.",
        )
    locked.delete()


@dataclass(frozen=True)
class PingRequest:
    """What the ping endpoint hands over: the request's facts, the body already capped."""

    kind: str
    method: str
    remote_addr: str | None = None
    user_agent: str = ""
    body: bytes = b""
    body_truncated: bool = False


def heartbeat_ping(*, uuid: UUID, ping: PingRequest, now: datetime | None = None) -> Heartbeat | None:
    """Apply a ping to the heartbeat with this uuid; None when there is none (the endpoint answers 404).

    success: up (resolving the alert if it was down); fail: down at once
    (alerting); start: notes the start (the job must finish within grace).
    A paused heartbeat logs the ping and ignores it.
    """
    now = now or timezone.now()
    with transaction.atomic():
        heartbeat = Heartbeat.objects.select_for_update().filter(uuid=uuid).first()
        if heartbeat is None:
            return None
        heartbeat.n_pings += 1
        ignored = heartbeat.status == CheckStatus.PAUSED
        if not ignored:
            _apply_ping(heartbeat, kind=ping.kind, now=now)
        _store_state(heartbeat, ["n_pings", "status", "last_ping_at", "last_start_at", "alert_after"])
        HeartbeatPing.objects.create(
            heartbeat=heartbeat,
            n=heartbeat.n_pings,
            at=now,
            kind=ping.kind,
            ignored=ignored,
            method=ping.method[:8],
            remote_addr=ping.remote_addr,
            user_agent=ping.user_agent[:200],
            body=ping.body[:PING_BODY_LIMIT].decode("utf-8", errors="replace"),
            body_size=min(len(ping.body), PING_BODY_LIMIT),
            body_truncated=ping.body_truncated or len(ping.body) > PING_BODY_LIMIT,
        )
        if heartbeat.n_pings % PING_LOG_LIMIT == 0:
            heartbeat.pings.filter(n__lte=heartbeat.n_pings - PING_LOG_LIMIT).delete()
    return heartbeat


def _apply_ping(heartbeat: Heartbeat, *, kind: str, now: datetime) -> None:
    if kind == PingKind.START:
        heartbeat.last_start_at = now
    else:
        heartbeat.last_ping_at = now
        heartbeat.last_start_at = None
        old = heartbeat.status
        new = CheckStatus.DOWN if kind == PingKind.FAIL else CheckStatus.UP
        if old != new:
            heartbeat.status = new
            reason = FlipReason.FAIL_PING if new == CheckStatus.DOWN else FlipReason.PING
            _record_flip(heartbeat=heartbeat, at=now, old=old, new=new, reason=reason)
            if new == CheckStatus.DOWN:
                _heartbeat_alert(
                    heartbeat,
                    status="firing",
                    at=now,
                    title=f"Heartbeat “{heartbeat.name}” reported a failure",
                    summary="The job pinged /fail.",
                )
            elif old == CheckStatus.DOWN:
                _heartbeat_alert(
                    heartbeat,
                    status="resolved",
                    at=now,
                    title=f"Heartbeat “{heartbeat.name}” is back",
                    summary="A success ping arrived.",
                )
    heartbeat.alert_after = heartbeat_deadline(heartbeat)


def detect_late_heartbeats(*, now: datetime | None = None, limit: int = CLAIM_BATCH) -> int:
    """Take down every watched heartbeat whose deadline has passed; returns how many went down.

    Each is claimed with a conditional UPDATE on its status and deadline, in
    its own transaction with its flip and alert: a ping that moved the
    deadline meanwhile, or another runner that got there first, makes the
    UPDATE match nothing, so a heartbeat goes down (and alerts) exactly once.
    """
    now = now or timezone.now()
    due = list(
        Heartbeat.objects.filter(status__in=[CheckStatus.NEW, CheckStatus.UP], alert_after__lt=now)
        .order_by("alert_after")
        .values_list("pk", "status", "alert_after")[:limit]
    )
    flipped = 0
    for pk, old, deadline in due:
        assert deadline is not None  # filtered on alert_after__lt
        with transaction.atomic():
            claimed = Heartbeat.objects.filter(pk=pk, status=old, alert_after=deadline).update(
                status=CheckStatus.DOWN, alert_after=None, updated_at=now
            )
            if claimed != 1:
                continue
            heartbeat = Heartbeat.objects.get(pk=pk)
            started = heartbeat.last_start_at
            if started is not None and started + heartbeat.grace == deadline:
                reason, title = FlipReason.START_TIMEOUT, f"Heartbeat “{heartbeat.name}” started but did not finish"
                summary = f"Started at {started:%Y-%m-%d %H:%M:%S %Z}; not finished within the grace time."
            else:
                reason, title = FlipReason.LATE, f"Heartbeat “{heartbeat.name}” is late"
                last = heartbeat.last_ping_at
                summary = f"No ping since {last:%Y-%m-%d %H:%M:%S %Z}." if last else "No ping yet."
            _record_flip(heartbeat=heartbeat, at=deadline, old=old, new=CheckStatus.DOWN, reason=reason)
            _heartbeat_alert(heartbeat, status="firing", at=deadline, title=title, summary=summary)
            flipped += 1
    return flipped


# --- Housekeeping --------------------------------------------------------------------------


def prune_check_history(*, now: datetime | None = None) -> dict[str, int]:
    """Delete HTTP results older than RESULT_RETENTION and pings beyond each heartbeat's newest PING_LOG_LIMIT."""
    now = now or timezone.now()
    results, _ = HttpCheckResult.objects.filter(checked_at__lt=now - RESULT_RETENTION).delete()
    pings, _ = HeartbeatPing.objects.filter(n__lte=F("heartbeat__n_pings") - PING_LOG_LIMIT).delete()
    return {"results": results, "pings": pings}
