"""opsgov's own security signals (opsgov.events.SecuritySignal) become alerts in the queue.

Subscribed in SecurityConfig.ready. Counted in the cache over the policy's ``security.signal_window``
(fixed windows starting at the first signal):

- ``login_failed``: the ``failed_logins_alert_after``-th failure for one username (or, without one,
  one address) in the window raises one "Repeated failed logins" alert (medium);
- ``locked_out``: django-axes locked an account: one "Account locked out" alert (high) per
  username and window (axes repeats the signal for every refused attempt while locked);
- ``permission_denied``: the ``permission_denied_alert_after``-th refused API request of one user
  in the window raises one "Permission-denied burst" alert (medium);
- ``token_new_network``: an API token used from a network (/24, /64) it was not used from before
  (opsgov.tokens.networks signals each new pair once): one "API token used from a new network"
  alert (medium), naming the network, the token's prefix and the networks it was used from.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache

from opsgov.events import SecuritySignal
from opsgov.policy import get_policy

from . import alerts
from .models import Severity


def _key(kind: str, subject: str) -> str:
    return "security-signal:" + kind + ":" + hashlib.sha256(subject.encode()).hexdigest()[:32]


def _count(kind: str, subject: str) -> int:
    key = _key(kind, subject)
    timeout = int(get_policy().security.signal_window.as_timedelta().total_seconds())
    if cache.add(key, 1, timeout):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout)
        return 1


def handle_signal(signal: SecuritySignal) -> None:
    policy = get_policy().security
    details = {"username": signal.username, "remote_addr": signal.remote_addr, **signal.details}
    if signal.kind == "login_failed":
        subject = signal.username or f"addr:{signal.remote_addr}"
        if _count(signal.kind, subject) == policy.failed_logins_alert_after:
            who = signal.username or signal.remote_addr or "an unknown client"
            alerts.record_signal(
                rule="Repeated failed logins",
                title=f"{policy.failed_logins_alert_after} failed logins for {who} within {policy.signal_window}",
                severity=Severity.MEDIUM,
                details=details,
                now=signal.at,
            )
    elif signal.kind == "locked_out" and _count(signal.kind, signal.username) == 1:
        alerts.record_signal(
            rule="Account locked out",
            title=f"Account locked out after repeated failures: {signal.username or '(no username)'}",
            severity=Severity.HIGH,
            details=details,
            now=signal.at,
        )
    elif (
        signal.kind == "permission_denied"
        and _count(signal.kind, signal.username) == policy.permission_denied_alert_after
    ):
        alerts.record_signal(
            rule="Permission-denied burst",
            title=f"{policy.permission_denied_alert_after} refused API requests by {signal.username} "
            f"within {policy.signal_window}",
            severity=Severity.MEDIUM,
            details=details,
            now=signal.at,
        )
    elif signal.kind == "token_new_network":
        network = signal.details.get("network", signal.remote_addr)
        alerts.record_signal(
            rule="API token used from a new network",
            title=f"API token {signal.details.get('token', '')} of {signal.username or '(unknown)'} "
            f"used from a new network: {network}",
            severity=Severity.MEDIUM,
            details=details,
            now=signal.at,
        )
