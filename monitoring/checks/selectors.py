"""Reads of the synthetic checks: list querysets, recent history, and what is down per service (for the gate)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import Count, OuterRef, QuerySet, Subquery

from ..models import CheckFlip, CheckStatus, Heartbeat, HeartbeatPing, HttpCheck, HttpCheckResult

#: How many results, pings and flips a detail page (and the API's detail) shows.
RECENT = 50


def http_check_list() -> QuerySet[HttpCheck]:
    """HTTP checks with their service and SLO, ordered by service and name (a fixed number of queries)."""
    return HttpCheck.objects.select_related("service", "slo").order_by("service__name", "name", "id")


def heartbeat_list() -> QuerySet[Heartbeat]:
    """Heartbeats with their service, ordered by service and name."""
    return Heartbeat.objects.select_related("service").order_by("service__name", "name", "id")


def recent_results(check: HttpCheck, limit: int = RECENT) -> list[HttpCheckResult]:
    return list(check.results.order_by("-checked_at", "-id")[:limit])


def recent_pings(heartbeat: Heartbeat, limit: int = RECENT) -> list[HeartbeatPing]:
    return list(heartbeat.pings.order_by("-n")[:limit])


def recent_flips(owner: HttpCheck | Heartbeat, limit: int = RECENT) -> list[CheckFlip]:
    return list(owner.flips.order_by("-at", "-id")[:limit])


def status_counts() -> dict[str, Counter[str]]:
    """How many HTTP checks and heartbeats are in each status (two queries)."""
    return {
        "http": Counter(dict(_counts(HttpCheck.objects.all()))),
        "heartbeat": Counter(dict(_counts(Heartbeat.objects.all()))),
    }


def _counts(queryset: QuerySet[HttpCheck] | QuerySet[Heartbeat]) -> Iterable[tuple[str, int]]:
    return queryset.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")


@dataclass(frozen=True)
class DownCheck:
    """A check that is down now: what the monitoring gate shows as evidence."""

    kind: str  # "http" or "heartbeat"
    uuid: UUID
    name: str
    service_id: int
    since: datetime | None  # when it went down (its newest flip to down)
    url: str  # its page

    @property
    def kind_label(self) -> str:
        return "HTTP check" if self.kind == "http" else "Heartbeat"


def _down_since(owner_field: str) -> Subquery:
    return Subquery(
        CheckFlip.objects.filter(**{owner_field: OuterRef("pk")}, new_status=CheckStatus.DOWN)
        .order_by("-at", "-id")
        .values("at")[:1]
    )


def down_checks_by_service(service_ids: Iterable[int] | None = None) -> dict[int, list[DownCheck]]:
    """The HTTP checks and heartbeats down now, per service id (two queries, whatever the history).

    Services with nothing down are absent. Within a service: longest down first.
    """
    http = HttpCheck.objects.filter(status=CheckStatus.DOWN).annotate(since=_down_since("http_check"))
    beats = Heartbeat.objects.filter(status=CheckStatus.DOWN).annotate(since=_down_since("heartbeat"))
    if service_ids is not None:
        ids = list(service_ids)
        http = http.filter(service_id__in=ids)
        beats = beats.filter(service_id__in=ids)
    found: list[DownCheck] = []
    for kind, queryset in (("http", http), ("heartbeat", beats)):
        for item in queryset.only("uuid", "name", "service_id"):
            found.append(
                DownCheck(
                    kind=kind,
                    uuid=item.uuid,
                    name=item.name,
                    service_id=item.service_id,
                    since=item.since,
                    url=item.get_absolute_url(),
                )
            )
    by_service: dict[int, list[DownCheck]] = {}
    for down in sorted(found, key=lambda d: (d.since is None, d.since.timestamp() if d.since else 0.0, d.name)):
        by_service.setdefault(down.service_id, []).append(down)
    return by_service
