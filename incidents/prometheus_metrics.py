"""incidents' figures on /metrics (registered with opsgov.prometheus.governance when opsgov.apps discovers it).

- ``opsgov_mtta_seconds``, ``opsgov_mttr_seconds``, ``opsgov_mtbf_seconds``
  ``{service, window}``: the current snapshots of the service scopes (see
  incidents.metrics for the definitions), read from the scrape's shared snapshot
  rows. A figure without data (no incident acknowledged, resolved, or no failure
  in the window: MTBF "> window") is left out, never shown as zero.
- ``opsgov_open_incidents{severity}``: incidents open now (triggered,
  acknowledged or mitigated), per policy severity, zeros included.

Open incidents are a live count rather than a snapshot: a bounded, indexed
count that joins the scrape's one UNION query as a row source (no query of its
own). It reads only open incidents, through the partial index
``incident_open_dedup_idx`` (status in the open statuses), so its cost follows
the number of incidents open now, never the history; a snapshot would lag by
a computation cycle for the same price.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Count, F, QuerySet

from opsgov.policy import get_policy
from opsgov.prometheus import Family, ScrapeData, governance, shape_rows

from .models import OPEN_STATUSES, Incident

SERVICE_SCOPE = "service:"
OPEN_INCIDENTS = "open_incidents"

#: (snapshot metric, family, help)
DURATIONS = (
    ("mtta", "opsgov_mtta_seconds", "Mean time to acknowledge per service over the window, seconds"),
    ("mttr", "opsgov_mttr_seconds", "Mean time to resolve per service over the window, seconds"),
    ("mtbf", "opsgov_mtbf_seconds", "Mean time between failures per service over the window, seconds"),
)


def open_incident_rows() -> QuerySet[Any]:
    """Open incidents per severity: (severity, count)."""
    counts = (
        Incident.objects.filter(status__in=[str(status) for status in OPEN_STATUSES])
        .order_by()
        .values("severity")
        .annotate(open_count=Count("pk"))
    )
    return shape_rows(counts, source=OPEN_INCIDENTS, key=F("severity"), value=F("open_count"))


def collect(data: ScrapeData) -> Iterator[Family]:
    for metric, name, documentation in DURATIONS:
        family = Family(name, documentation, ["service", "window"])
        for row in data.snapshots(metric, scope_prefix=SERVICE_SCOPE):
            if row.value is not None:
                family.add([row.label.removeprefix(SERVICE_SCOPE), row.detail], row.value)
        yield family

    counts = dict.fromkeys(get_policy().incidents.severity_keys(), 0.0)
    for row in data.rows(OPEN_INCIDENTS):
        counts[row.key] = counts.get(row.key, 0.0) + (row.value or 0.0)
    open_family = Family(
        "opsgov_open_incidents", "Incidents open now (triggered, acknowledged or mitigated)", ["severity"]
    )
    for severity, count in sorted(counts.items()):
        open_family.add([severity], count)
    yield open_family


# Read at each scrape once opsgov discovers this module (opsgov.apps).
governance.add_source(OPEN_INCIDENTS, open_incident_rows)
governance.add_collector("incidents", collect)
