"""Time truth for ingested events: which instant a sender's timestamp may decide (DESIGN.md, "Data flow").

An incident opened by live ingestion is triggered at the instant opsgov stored
its first event (RawEvent.received_at), and acknowledged or resolved at the
instant opsgov stored the event (or took the action) that did it. A sender's
own timestamp (Alertmanager `startsAt`/`endsAt`, Events v2 `payload.timestamp`)
is kept with the signal and described in the timeline ("the alert started
3 min before it reached opsgov"); it decides an instant only when the policy
trusts the sender's clock (`incidents.trust_sender_clock_within`, unset by
default) and it lies within that bound before the receipt, never after it.

Alerts raised inside opsgov (internal monitoring integrations: SLO burn rates,
late heartbeats, failing checks) carry an instant opsgov itself recorded (the
heartbeat's deadline, the evaluation that saw the burn): not a sender's clock,
so it decides the trigger however far back, never after the receipt (`own`).

Guarantees of `SenderClock.instant`:
- it is the received instant unless the sender's time lies in
  [received_at - bound, received_at] (the policy's bound; any lead for `own` clocks);
- it is never after the received instant (a sender's clock ahead of ours is ignored);
- the caller bounds it below by the incident's last status change, so a resolve
  never precedes the trigger (`ingestion` falls back to the received instant then).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opsgov.formatting import format_duration
from opsgov.policy import get_policy


def trust_bound() -> timedelta | None:
    """How far before its receipt a sender's timestamp may place an instant; None: not at all (the default)."""
    bound = get_policy().incidents.trust_sender_clock_within
    return bound.as_timedelta() if bound is not None else None


@dataclass(frozen=True)
class SenderClock:
    """A sender's timestamp for an event beside the instant opsgov received it."""

    received_at: datetime
    sender_at: datetime | None
    bound: timedelta | None
    #: The timestamp is opsgov's own (an internal alert): trusted however far back.
    own: bool = False

    @classmethod
    def of(cls, *, received_at: datetime, sender_at: datetime | None, own: bool = False) -> SenderClock:
        """With the effective policy's bound."""
        return cls(received_at=received_at, sender_at=sender_at, bound=trust_bound(), own=own)

    @property
    def lead(self) -> timedelta | None:
        """How long before its receipt the sender says the thing happened (negative: a clock ahead of ours)."""
        return self.received_at - self.sender_at if self.sender_at is not None else None

    @property
    def trusted(self) -> bool:
        """Whether the sender's time decides the instant: within the policy's bound, and not in the future."""
        lead = self.lead
        if lead is None or lead < timedelta(0):
            return False
        return self.own or (self.bound is not None and lead <= self.bound)

    @property
    def instant(self) -> datetime:
        """The sender's time when trusted, else the received instant."""
        return self.sender_at if self.trusted and self.sender_at is not None else self.received_at

    def describe(self, what: str = "the alert started") -> str:
        """One phrase for the timeline, e.g. "the alert started 3 min before it reached opsgov"; "" without one."""
        lead = self.lead
        if lead is None or lead == timedelta(0):
            return ""
        if lead < timedelta(0):
            return f"the sender's time is {format_duration(-lead)} after it reached opsgov (a clock ahead: not used)"
        text = f"{what} {format_duration(lead)} before it reached opsgov"
        if self.own:
            return text
        if self.trusted:
            return f"{text} (within the policy's trust_sender_clock_within: used)"
        if self.bound is not None:
            return f"{text} (beyond the policy's trust_sender_clock_within: not used)"
        return text

    def data(self) -> dict[str, Any]:
        """For a timeline event's data: both instants and whether the sender's decided."""
        lead = self.lead
        return {
            "received_at": self.received_at.isoformat(),
            "sender_at": self.sender_at.isoformat() if self.sender_at is not None else None,
            "sender_lead_seconds": lead.total_seconds() if lead is not None else None,
            "sender_clock_used": self.trusted,
        }


def with_note(message: str, clock: SenderClock, what: str = "the alert started", limit: int = 2000) -> str:
    """`message`, then the clock's phrase if any: "HighErrorRate firing; the alert started 3 min before it ..."."""
    note = clock.describe(what)
    return (f"{message}; {note}" if note else message)[:limit]
