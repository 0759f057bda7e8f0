"""What a responder needs next to an incident: runbooks, descriptions, links, images, client and details.

`incident_context(incident)` reads the data the incident's AlertSignal rows and
SIGNAL timeline entries carry (incidents.ingest.services writes them) and merges it into one
`IncidentContext`. The incident page, the API detail (`context`), the paging
e-mail and the webhook payload all render that one value, so they agree.

Where each part comes from
--------------------------
- Alertmanager signals (one per alert and status change, with a `fingerprint`):
  only the latest signal of each fingerprint counts. Its annotations are the
  alert's own over the `commonAnnotations` of the webhook that carried it (read
  from the linked RawEvent; Alertmanager senders may put `runbook_url` only
  there).
  * runbook: the `runbook_url` annotation, else the monitoring rule catalog's
    runbook for the alert's `alertname` on the incident's service
    (opsgov.registry.runbooks; source "rule catalog");
  * description: the `description` annotation (else `summary`);
  * links: `generatorURL` (kind "generator") and the dashboard annotations
    named in DASHBOARD_ANNOTATIONS (kind "dashboard").
- Events v2 trigger signals (PagerDuty, generic, opsgov's own monitoring
  alerts): the latest signal per (source, component, group, class, summary).
  * runbook: a `custom_details.runbook_url` string;
  * links: `links[].href` with `links[].text` (kind "link"; a link whose text
    says "runbook" is listed as a runbook instead), `client`/`client_url`
    (kind "client");
  * images: `images[].src` with `alt`, shown as links, never loaded (opsgov
    runs inside closed networks); an image's `href` is listed as a link;
  * custom_details: any JSON, rendered as indented JSON text, at most
    DETAILS_LIMIT characters per block (`truncated` says when cut).

Guarantees
----------
- Bounded: at most SIGNAL_LIMIT signals are read (the newest), at most
  ITEM_LIMIT entries per list and ALERT_LIMIT alerts are kept (`omitted` counts
  what was left out), every string is cut to a fixed length.
- A fixed number of queries whatever the number of signals: at most four (the
  AlertSignal rows; the timeline signals, unless the caller passes the loaded
  timeline; the RawEvents' commonAnnotations, only when there are Alertmanager
  signals; the rule catalog, only when an alert has no runbook of its own).
- Deduplicated: a URL is listed once (in the first of runbooks, links, images
  that holds it), a description and a details block once.
- Safe to render: nothing here is HTML. A link's `href` is set only for an
  absolute http(s) URL with a host and no whitespace or control characters;
  everything else (javascript:, data:, `//host`, relative paths) has `href`
  None and is shown as text only. Templates autoescape every value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from opsgov.registry import runbooks as runbook_directory

from .models import AlertSignal, Incident, RawEvent, TimelineEvent, TimelineKind

#: What the readers take a signal's data from: an incident's AlertSignal row or SIGNAL timeline entry.
_Signal = AlertSignal | TimelineEvent

#: The newest signals read per incident (an incident flapping for days keeps its latest context).
SIGNAL_LIMIT = 500
#: Entries kept per list (runbooks, descriptions, links, images, details blocks).
ITEM_LIMIT = 20
#: Alerts (fingerprints) listed per incident.
ALERT_LIMIT = 50
#: Characters of one custom_details block, as JSON text.
DETAILS_LIMIT = 4000
#: Characters kept of a URL, a link text, a description.
URL_LIMIT = 2000
TEXT_LIMIT = 200
DESCRIPTION_LIMIT = 2000

#: Alertmanager annotations read as dashboard links, in this order.
DASHBOARD_ANNOTATIONS = ("dashboard_url", "grafana_url", "dashboard")

_RUNBOOK_TEXT = re.compile(r"runbook|playbook", re.IGNORECASE)
_UNSAFE_CHARACTER = re.compile(r"[\x00-\x20\x7f\\]")


def _text(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    value = value.strip()
    return value if len(value) <= limit else value[: limit - 1] + "…"


def safe_href(url: str) -> str | None:
    """`url` itself if a browser may follow it from opsgov's pages: absolute http or https with a host; else None.

    Refused: other schemes (javascript:, data:, vbscript:, file:...), scheme-relative
    (`//host`) and relative URLs, and any URL with whitespace, control characters or
    a backslash (which browsers rewrite before deciding where a link goes).
    """
    if not url or len(url) > URL_LIMIT or _UNSAFE_CHARACTER.search(url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return url


@dataclass(frozen=True)
class ContextLink:
    """A URL to show: `url` as given (always shown as text), `href` only when it may be clickable (safe_href)."""

    kind: str  # runbook, generator, dashboard, link, client, image
    text: str
    url: str
    source: str  # where it was read, e.g. "annotation runbook_url", "rule catalog", "Events v2 links"

    @property
    def href(self) -> str | None:
        return safe_href(self.url)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "url": self.url, "href": self.href, "source": self.source}


@dataclass(frozen=True)
class DetailsBlock:
    """One Events v2 custom_details value, as indented JSON text of at most DETAILS_LIMIT characters."""

    title: str
    text: str
    truncated: bool
    #: The value itself when it fits the limit (API and webhook); None when truncated.
    value: Any

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "text": self.text, "truncated": self.truncated, "value": self.value}


@dataclass(frozen=True)
class AlertSummary:
    """The latest state of one Alertmanager alert (by fingerprint) of the incident."""

    fingerprint: str
    alertname: str
    status: str
    summary: str
    description: str
    runbook: ContextLink | None

    def as_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "alertname": self.alertname,
            "status": self.status,
            "summary": self.summary,
            "description": self.description,
            "runbook": self.runbook.as_json() if self.runbook else None,
        }


@dataclass(frozen=True)
class IncidentContext:
    """Everything incident_context found, deduplicated and bounded (see the module docstring)."""

    runbooks: tuple[ContextLink, ...] = ()
    descriptions: tuple[str, ...] = ()
    links: tuple[ContextLink, ...] = ()
    images: tuple[ContextLink, ...] = ()
    custom_details: tuple[DetailsBlock, ...] = ()
    alerts: tuple[AlertSummary, ...] = ()
    #: Entries left out by the limits (ITEM_LIMIT, ALERT_LIMIT).
    omitted: int = 0

    def __bool__(self) -> bool:
        return bool(
            self.runbooks or self.descriptions or self.links or self.images or self.custom_details or self.alerts
        )

    def as_json(self) -> dict[str, Any]:
        """The shape of the API detail's `context` and of the webhook payload's `incident.context`."""
        return {
            "runbooks": [link.as_json() for link in self.runbooks],
            "descriptions": list(self.descriptions),
            "links": [link.as_json() for link in self.links],
            "images": [link.as_json() for link in self.images],
            "custom_details": [block.as_json() for block in self.custom_details],
            "alerts": [alert.as_json() for alert in self.alerts],
            "omitted": self.omitted,
        }


def render_details(value: Any, limit: int = DETAILS_LIMIT) -> tuple[str, bool]:
    """`value` as indented JSON text of at most `limit` characters, and whether it was cut."""
    try:
        text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        text = "(these details cannot be shown as JSON)"
    if len(text) <= limit:
        return text, False
    return text[:limit] + f"\n… ({len(text) - limit} more characters not shown)", True


@dataclass
class _Builder:
    runbooks: list[ContextLink] = field(default_factory=list)
    descriptions: list[str] = field(default_factory=list)
    links: list[ContextLink] = field(default_factory=list)
    images: list[ContextLink] = field(default_factory=list)
    details: list[DetailsBlock] = field(default_factory=list)
    urls: set[str] = field(default_factory=set)
    details_seen: set[str] = field(default_factory=set)
    omitted: int = 0

    def add_link(self, into: list[ContextLink], link: ContextLink) -> None:
        if not link.url and not link.text:
            return
        key = link.url or f"{link.kind}:{link.text}"
        if key in self.urls:
            return
        self.urls.add(key)
        if len(into) >= ITEM_LIMIT:
            self.omitted += 1
            return
        into.append(link)

    def add_description(self, text: str) -> None:
        if not text or text in self.descriptions:
            return
        if len(self.descriptions) >= ITEM_LIMIT:
            self.omitted += 1
            return
        self.descriptions.append(text)

    def add_details(self, title: str, value: Any) -> None:
        if value is None or value == {} or value == []:
            return
        text, truncated = render_details(value)
        if text in self.details_seen:
            return
        self.details_seen.add(text)
        if len(self.details) >= ITEM_LIMIT:
            self.omitted += 1
            return
        self.details.append(
            DetailsBlock(title=title, text=text, truncated=truncated, value=None if truncated else value)
        )


def _newest_signals(incident: Incident, timeline: Iterable[TimelineEvent] | None) -> list[_Signal]:
    """The latest data of the incident's newest SIGNAL_LIMIT alerts (AlertSignal rows, one query), then its
    newest SIGNAL_LIMIT SIGNAL timeline entries (from `timeline` if given, else one query), newest first.

    The AlertSignal rows come first: they hold each alert's latest state, also for the alerts of a
    webhook too large to have a timeline entry each. The timeline entries cover incidents from before
    AlertSignal rows existed; the readers below keep the first data of each alert.
    """
    aggregated: list[_Signal] = list(
        AlertSignal.objects.filter(incident=incident).only("id", "data").order_by("-last_seen", "-id")[:SIGNAL_LIMIT]
    )
    if timeline is not None:
        signals = [event for event in timeline if event.kind == TimelineKind.SIGNAL]
        signals.sort(key=lambda event: (event.at, event.pk or 0), reverse=True)
        return [*aggregated, *signals[:SIGNAL_LIMIT]]
    return [
        *aggregated,
        *TimelineEvent.objects.filter(incident=incident, kind=TimelineKind.SIGNAL)
        .only("id", "at", "kind", "data")
        .order_by("-at", "-id")[:SIGNAL_LIMIT],
    ]


def _str_dict(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(key): item for key, item in value.items() if isinstance(item, str)}


def _common_annotations(raw_uuids: set[str]) -> dict[str, dict[str, str]]:
    """commonAnnotations of the Alertmanager webhooks (RawEvents) with these uuids, by uuid: one query."""
    if not raw_uuids:
        return {}
    rows = RawEvent.objects.filter(uuid__in=sorted(raw_uuids)).values_list("uuid", "payload__commonAnnotations")
    return {str(uuid): _str_dict(annotations) for uuid, annotations in rows}


def _events_v2_key(data: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(data.get(name) or "") for name in ("source", "component", "group", "class", "summary"))


def _alertmanager_signals(signals: list[_Signal]) -> Iterator[dict[str, Any]]:
    """The latest signal data of each fingerprint, newest first."""
    seen: set[str] = set()
    for event in signals:
        data = event.data if isinstance(event.data, dict) else {}
        fingerprint = data.get("fingerprint")
        if not isinstance(fingerprint, str) or not fingerprint or fingerprint in seen:
            continue
        seen.add(fingerprint)
        yield data


def _events_v2_signals(signals: list[_Signal]) -> Iterator[dict[str, Any]]:
    """The latest Events v2 trigger signal data per (source, component, group, class, summary), newest first."""
    seen: set[tuple[str, ...]] = set()
    for event in signals:
        data = event.data if isinstance(event.data, dict) else {}
        if data.get("event_action") != "trigger" or "fingerprint" in data:
            continue
        key = _events_v2_key(data)
        if key in seen:
            continue
        seen.add(key)
        yield data


def incident_context(incident: Incident, *, timeline: Iterable[TimelineEvent] | None = None) -> IncidentContext:
    """The responder context of `incident`, merged from its signals (see the module docstring).

    `timeline`: the incident's timeline when the caller has loaded it already
    (the detail page and the API prefetch it), which saves the signals' query.
    """
    signals = _newest_signals(incident, timeline)
    alert_data = list(_alertmanager_signals(signals))
    trigger_data = list(_events_v2_signals(signals))
    builder = _Builder()

    # Alertmanager: annotations are the alert's own over its webhook's commonAnnotations.
    common = _common_annotations(
        {str(data["raw_event"]) for data in alert_data[:ALERT_LIMIT] if isinstance(data.get("raw_event"), str)}
    )
    alerts: list[tuple[dict[str, Any], str, dict[str, str]]] = []
    for data in alert_data[:ALERT_LIMIT]:
        labels = _str_dict(data.get("labels"))
        raw = data.get("raw_event")
        annotations = {**common.get(str(raw), {}), **_str_dict(data.get("annotations"))}
        alerts.append((data, labels.get("alertname", ""), annotations))
    builder.omitted += max(len(alert_data) - ALERT_LIMIT, 0)

    missing = sorted({name for _, name, annotations in alerts if name and not annotations.get("runbook_url")})
    catalog = runbook_directory.for_alerts(service_id=incident.service_id, alertnames=missing) if missing else {}

    summaries: list[AlertSummary] = []
    # Oldest first, so lists read in the order the alerts arrived.
    for data, alertname, annotations in reversed(alerts):
        runbook: ContextLink | None = None
        own = _text(annotations.get("runbook_url"), URL_LIMIT)
        if own:
            runbook = ContextLink("runbook", alertname or "Runbook", own, "annotation runbook_url")
        elif alertname in catalog:
            runbook = ContextLink("runbook", alertname, _text(catalog[alertname], URL_LIMIT), "rule catalog")
        elif isinstance(data.get("slo_url"), str) and data["slo_url"]:
            # opsgov's own burn-rate alerts (incidents.ingest.slo_alerts): the SLO's page is their runbook, as the
            # exported Prometheus rules' runbook_url annotation says.
            name = _text(data.get("burn_rate_alert") or "SLO", TEXT_LIMIT)
            runbook = ContextLink("runbook", name, _text(data["slo_url"], URL_LIMIT), "SLO page")
        if runbook is not None:
            builder.add_link(builder.runbooks, runbook)
        description = _text(annotations.get("description") or annotations.get("summary"), DESCRIPTION_LIMIT)
        builder.add_description(description)
        generator = _text(data.get("generatorURL"), URL_LIMIT)
        if generator:
            builder.add_link(
                builder.links, ContextLink("generator", f"{alertname or 'Alert'} source", generator, "generatorURL")
            )
        for name in DASHBOARD_ANNOTATIONS:
            url = _text(annotations.get(name), URL_LIMIT)
            if url:
                builder.add_link(builder.links, ContextLink("dashboard", "Dashboard", url, f"annotation {name}"))
        summaries.append(
            AlertSummary(
                fingerprint=_text(data.get("fingerprint"), TEXT_LIMIT),
                alertname=_text(alertname, TEXT_LIMIT),
                status=_text(data.get("status"), 16),
                summary=_text(annotations.get("summary"), DESCRIPTION_LIMIT),
                description=_text(annotations.get("description"), DESCRIPTION_LIMIT),
                runbook=runbook,
            )
        )

    # Events v2, oldest first.
    for data in reversed(trigger_data):
        details = data.get("custom_details")
        if isinstance(details, dict):
            url = _text(details.get("runbook_url"), URL_LIMIT)
            if url:
                builder.add_link(builder.runbooks, ContextLink("runbook", "Runbook", url, "custom_details.runbook_url"))
        links = data.get("links")
        for link in links if isinstance(links, list) else []:
            if not isinstance(link, dict):
                continue
            href, text = _text(link.get("href"), URL_LIMIT), _text(link.get("text"), TEXT_LIMIT)
            if _RUNBOOK_TEXT.search(text):
                builder.add_link(builder.runbooks, ContextLink("runbook", text, href, "Events v2 links"))
            else:
                builder.add_link(builder.links, ContextLink("link", text or "Link", href, "Events v2 links"))
        images = data.get("images")
        for image in images if isinstance(images, list) else []:
            if not isinstance(image, dict):
                continue
            alt = _text(image.get("alt"), TEXT_LIMIT)
            src, href = _text(image.get("src"), URL_LIMIT), _text(image.get("href"), URL_LIMIT)
            if src:
                builder.add_link(builder.images, ContextLink("image", alt or "Image", src, "Events v2 images"))
            if href:
                builder.add_link(builder.links, ContextLink("link", alt or "Image link", href, "Events v2 images"))
        client, client_url = _text(data.get("client"), TEXT_LIMIT), _text(data.get("client_url"), URL_LIMIT)
        if client or client_url:
            builder.add_link(builder.links, ContextLink("client", client or "Client", client_url, "Events v2 client"))
        builder.add_details(_text(data.get("summary"), TEXT_LIMIT) or "Details", details)

    return IncidentContext(
        runbooks=tuple(builder.runbooks),
        descriptions=tuple(builder.descriptions),
        links=tuple(builder.links),
        images=tuple(builder.images),
        custom_details=tuple(builder.details),
        alerts=tuple(summaries),
        omitted=builder.omitted,
    )
