"""The ingestion endpoints' request handling: what incidents.ingest.views answers.

Served by Django's own handler like every other route (middleware, URL
dispatch, signals, CONN_HEALTH_CHECKS). The endpoints read the request through
an `Incoming` (a few headers and the body stream) and return an `Answer` (status,
JSON body, headers), so that these rules are written and tested apart from the
view that turns them into a JsonResponse.

What a caller can rely on:
- 202 means the payload is stored (a RawEvent committed to the database).
  Processing happens in a Celery task enqueued after the commit (by gunicorn
  workers in batches: incidents.ingest.enqueue); if the broker is
  down the answer is still 202 and the sweeper enqueues the event later, so
  nothing accepted is lost.
- Authentication is the integration's token only, in the URL path or in an
  `Authorization: Bearer <token>` header (no session, no CSRF): 401 when it is
  missing or malformed, 403 when it matches no integration, the integration is
  disabled, or it belongs to the other endpoint. The Events v2 endpoint also
  takes it from the body's `routing_key`, as PagerDuty does (`pagerduty` says how).
- 415 unless the body is `application/json` (not compressed), 411 without a
  Content-Length, 413 over MAX_BODY_BYTES (checked on Content-Length before
  reading, and on the bytes read, never reading more than the limit + 1),
  400 for malformed JSON or an invalid event, with pydantic's field paths,
  408 when the body stops arriving for REQUEST_BODY_TIMEOUT (opsgov.wsgi).
- A request with a valid token is never answered 429 (Alertmanager drops a
  4xx: the alert would be lost). The endpoints answer 5xx only when the event
  could not be stored (Alertmanager retries a 5xx): 503 with Retry-After when
  the database is unavailable, or when the integration is over the policy's
  `incidents.ingest_max_events_per_minute` (unset by default; counted per
  token in the cache, the excess is answered before anything is stored).

Limits (counted in the cache with opsgov.ratelimit; they fail open when the cache is down):
- Bad tokens per source address: a request refused for its token (401, 403,
  or the Events v2 400 "Invalid routing key") counts against its address
  (REMOTE_ADDR; behind a proxy, the proxy's); past INGEST_BAD_TOKEN_RATE
  (default 30/minute) such refusals are answered 429 with Retry-After until
  the window ends. Only refusals count and only refusals become 429, so
  callers with a valid token from the same address are never held back.
- Per integration: the policy cap above, answered 503 with Retry-After.

The token is checked before the body is read (a token in the path or the
Authorization header; a body's routing_key can only be checked once read): a
sender without a valid token never gets to upload. The hot path stays one
statement, an insert that finds the integration by its token hash: a token
seen valid in the last seconds is admitted without a lookup (token_cache).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.db import Error as DatabaseError
from django.db import transaction
from pydantic import ValidationError

from opsgov import ratelimit
from opsgov.policy import get_policy
from opsgov.redaction import ELLIPSIS, redact

from ..models import IntegrationKind
from . import token_cache
from .enqueue import enqueue_process_raw_event
from .schemas import AlertmanagerWebhook, PagerDutyEvent, error_lines, parse_pagerduty_event
from .services import integration_for_token, store_raw_event, store_raw_event_for_token

logger = logging.getLogger(__name__)

#: Largest body accepted (1 MiB). Checked here, before Django's DATA_UPLOAD_MAX_MEMORY_SIZE
#: could answer its own 400, because the endpoints read the stream themselves.
MAX_BODY_BYTES = 1024 * 1024

# Tokens come from secrets.token_urlsafe(32) (43 characters); anything not shaped
# like one is refused before it costs a query.
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")
# As much of a token as logs show (Integration.token_prefix stores as much, to recognise one).
TOKEN_PREFIX_LENGTH = 8
_INVALID = "invalid event"
_NO_INTEGRATION = "The token matches no integration."
#: The integration kinds whose events the Events v2 endpoint takes.
EVENTS_V2_KINDS: tuple[str, ...] = (IntegrationKind.PAGERDUTY.value, IntegrationKind.GENERIC.value)
_ENDPOINT_OF_KIND: dict[str, str] = {
    IntegrationKind.ALERTMANAGER: "/api/v1/ingest/alertmanager/<token>/",
    IntegrationKind.PAGERDUTY: "/api/v1/ingest/pagerduty/<token>/enqueue",
    IntegrationKind.GENERIC: "/api/v1/ingest/pagerduty/<token>/enqueue",
}
_UNSTORABLE = "JSON strings must not contain NUL characters or unpaired surrogates."


@dataclass(frozen=True, slots=True)
class Incoming:
    """What the endpoints read of a request (incidents.ingest.views.incoming builds it from Django's)."""

    method: str
    #: The request path, for log lines (with the token redacted).
    path: str
    #: The Authorization header, if any.
    authorization: str | None
    #: The media type of the Content-Type header, in lower case, without parameters ("" when absent).
    content_type: str
    #: The Content-Encoding header, if any.
    content_encoding: str | None
    #: The Content-Length header as sent, if any.
    content_length: str | None
    #: Reads up to n bytes of the body (never past Content-Length).
    read: Callable[[int], bytes]
    #: The caller's address (REMOTE_ADDR), which bad-token attempts are counted by.
    remote_addr: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    """An endpoint's answer: the status, the JSON body and any extra headers."""

    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()
    #: True when the answer has been logged here (a refusal, or an error), with the token redacted.
    logged: bool = False


class Reject(Exception):
    """An answer other than 202, with the status and the JSON body to send."""

    def __init__(self, status: int, kind: str, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"status": kind, "message": message}
        if errors is not None:
            self.body["errors"] = errors

    def answer(self) -> Answer:
        headers: tuple[tuple[str, str], ...] = ()
        if self.status == 401:
            headers = (("WWW-Authenticate", 'Bearer realm="opsgov-ingest"'),)
        elif self.status == 405:
            headers = (("Allow", "POST"),)
        return Answer(self.status, self.body, headers, logged=True)


def _token(incoming: Incoming, token: str | None) -> str:
    """The token from the path or the Authorization header, shaped like one; or a Reject (401). No query."""
    if token is None:
        header = incoming.authorization
        if not header:
            raise Reject(
                401, "unauthorized", "An integration token is required, in the URL or as 'Authorization: Bearer'."
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Reject(401, "unauthorized", "The Authorization header must be 'Bearer <integration token>'.")
        token = token.strip()
    if not _TOKEN_RE.fullmatch(token):
        raise Reject(401, "unauthorized", "The integration token is malformed.")
    return token


def _integration_id(token: str, *, kinds: tuple[str, ...], endpoint: str) -> int:
    """The id of the enabled integration of one of `kinds` the token belongs to; or a Reject (403) saying why not."""
    found = integration_for_token(token)
    if found is None:
        raise Reject(403, "forbidden", _NO_INTEGRATION)
    integration_id, kind, enabled = found
    if not enabled:
        raise Reject(403, "forbidden", "This integration is disabled; enable it in opsgov to send events.")
    if kind not in kinds:
        raise Reject(
            403,
            "forbidden",
            f"This token belongs to a {kind} integration, not to this {endpoint} endpoint; "
            f"post its events to {_ENDPOINT_OF_KIND.get(kind, 'the endpoint of its kind')}.",
        )
    token_cache.remember(token, kind)
    return integration_id


def _check_token_before_body(token: str, *, kinds: tuple[str, ...], endpoint: str) -> None:
    """Refuse a token (403) before the body is read; no query for a token seen valid in the last seconds.

    token_cache says when it may skip the lookup; the insert checks the token again either way.
    """
    if not token_cache.admits(token, kinds):
        _integration_id(token, kinds=kinds, endpoint=endpoint)


@contextmanager
def _token_refusal_first(token: str, *, kinds: tuple[str, ...], endpoint: str) -> Iterator[None]:
    """Let a bad token's 403 win over the body's 4xx raised inside, as if the token had been checked first.

    The happy path checks the token in the insert itself (one round trip); only
    a refused body costs the separate lookup.
    """
    try:
        yield
    except Reject:
        _integration_id(token, kinds=kinds, endpoint=endpoint)
        raise


def _reject_nan(value: str) -> Any:
    raise ValueError(f"{value} is not valid JSON")


def _finite_float(value: str) -> float:
    number = float(value)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"number {value[:40]} is out of range")
    return number


def _storable(value: Any) -> bool:
    """False if a string holds a NUL or a lone surrogate, which PostgreSQL's jsonb refuses."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_storable(key) and _storable(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    return True


def _json_body(incoming: Incoming) -> tuple[Any, str]:
    """The request's JSON body, parsed and as text, within the size limit; or a Reject (411, 413, 415, 400).

    The text is what gets stored, so anything the database's JSON type would
    refuse is refused here: NaN and infinities, NUL characters, lone
    surrogates, and text that is not UTF-8 (RFC 8259; a byte order mark is dropped).
    """
    content_type = incoming.content_type
    if content_type != "application/json":
        raise Reject(
            415, "unsupported media type", f"Send the event as application/json, not {content_type or 'nothing'}."
        )
    encoding = (incoming.content_encoding or "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise Reject(415, "unsupported media type", f"Content-Encoding {encoding} is not supported; send plain JSON.")
    raw_length = incoming.content_length
    if not raw_length:
        raise Reject(411, _INVALID, "A Content-Length header is required.")
    try:
        length = int(raw_length)
    except ValueError:
        raise Reject(400, _INVALID, "The Content-Length header is not a number.") from None
    if length > MAX_BODY_BYTES:
        raise Reject(413, "payload too large", f"The body is {length} bytes; the limit is {MAX_BODY_BYTES} bytes.")
    try:
        body = incoming.read(MAX_BODY_BYTES + 1)
    except OSError:  # the body stopped arriving (opsgov.wsgi's read timeout) or the client went away
        raise Reject(408, "request timeout", "The request body stopped arriving; send it again.") from None
    if len(body) > MAX_BODY_BYTES:
        raise Reject(413, "payload too large", f"The body exceeds the limit of {MAX_BODY_BYTES} bytes.")
    try:
        text = body.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        raise Reject(400, _INVALID, "Malformed JSON: the body is not UTF-8.", ["body: not UTF-8"]) from None
    if not text.strip():
        raise Reject(400, _INVALID, "Malformed JSON: the body is empty.", ["body: empty"])
    try:
        data = json.loads(text, parse_constant=_reject_nan, parse_float=_finite_float)
    except RecursionError:
        raise Reject(400, _INVALID, "Malformed JSON: nested too deeply.", ["body: nested too deeply"]) from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise Reject(400, _INVALID, f"Malformed JSON: {exc}", [f"body: {exc}"]) from None
    # Only bodies with \u escapes can hold a NUL or a lone surrogate: walk those alone.
    if "\\u" in text and not _storable(data):
        raise Reject(400, _INVALID, f"Event object is invalid: {_UNSTORABLE}", [f"body: {_UNSTORABLE}"])
    return data, text


def _store(
    *, token: str, kinds: tuple[str, ...], endpoint: str, dedup_key: str, action: str, payload_json: str
) -> uuid.UUID:
    """Insert the RawEvent (its own transaction) and enqueue its processing once it is committed.

    The token is checked by the insert itself (one statement); when it inserts
    nothing, the lookup says why (403). The enqueue is a robust on-commit
    callback that logs broker errors instead of raising them: the row is
    committed either way, and the sweeper enqueues what is left unprocessed.
    (Inside a caller's transaction, as in tests, the callback waits for that
    transaction's commit.) A connection the server closed since the last request
    was replaced before this statement by Django's CONN_HEALTH_CHECKS; one that
    breaks during it is a 503 that the sender retries.
    """
    _within_integration_cap(token, kinds=kinds, endpoint=endpoint)
    stored = store_raw_event_for_token(
        token=token, kinds=kinds, dedup_key=dedup_key, action=action, payload_json=payload_json
    )
    if stored is None:
        integration_id = _integration_id(token, kinds=kinds, endpoint=endpoint)
        # Enabled (or re-kinded) between the two statements: store it as it now stands.
        stored = store_raw_event(
            integration_id=integration_id, dedup_key=dedup_key, action=action, payload_json=payload_json
        )
    event_id, event_uuid = stored
    transaction.on_commit(partial(enqueue_process_raw_event, event_id), robust=True)
    return event_uuid


class Limited(Reject):
    """A refusal that the sender waits out: 429 (bad tokens) or 503 (capacity), with Retry-After."""

    def __init__(self, status: int, kind: str, message: str, *, retry_after: int, errors: list[str] | None = None):
        super().__init__(status, kind, message, errors)
        self.body["retry_after"] = retry_after
        self.retry_after = retry_after

    def answer(self) -> Answer:
        return Answer(self.status, self.body, (("Retry-After", str(self.retry_after)),), logged=True)


def _token_identity(token: str) -> str:
    """What the cache counts an integration's events under: a digest of its token (never the token)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def _within_integration_cap(token: str, *, kinds: tuple[str, ...], endpoint: str) -> None:
    """Count one event for the integration of `token`; a Limited (503) past the policy's per-minute cap.

    Only over the cap is the token looked up, so that a bad token still gets its
    403 (the count is by token, before the insert that checks it).
    """
    cap = get_policy().incidents.ingest_max_events_per_minute
    if cap is None:
        return
    verdict = ratelimit.hit("ingest-integration", _token_identity(token), ratelimit.Rate(cap, 60))
    if not verdict.allowed:
        _integration_id(token, kinds=kinds, endpoint=endpoint)  # a bad token is refused as such
        raise Limited(
            503,
            "unavailable",
            f"This integration is over its limit of {cap} events a minute (policy "
            f"incidents.ingest_max_events_per_minute); send it again in {verdict.retry_after} seconds.",
            retry_after=verdict.retry_after,
        )


def _is_token_refusal(reject: Reject) -> bool:
    """True when `reject` refuses the request for its token: 401, 403, or Events v2's "Invalid routing key"."""
    return reject.status in (401, 403) or (
        reject.status == 400 and "Invalid routing key" in reject.body.get("errors", [])
    )


def _bad_token_limited(incoming: Incoming, reject: Reject) -> Reject:
    """`reject`, or a 429 when its caller's address is past INGEST_BAD_TOKEN_RATE refusals for their token."""
    rate = settings.INGEST_BAD_TOKEN_RATE
    if rate is None or not _is_token_refusal(reject):
        return reject
    verdict = ratelimit.hit("ingest-bad-token", incoming.remote_addr or "unknown", ratelimit.parse_rate(rate))
    if verdict.allowed:
        return reject
    return Limited(
        429,
        "too many requests",
        f"Too many requests with a refused token from this address; retry in {verdict.retry_after} seconds. "
        f"This one: {reject.body['message']}",
        retry_after=verdict.retry_after,
        errors=reject.body.get("errors"),
    )


def _redacted(path: str, token: str | None) -> str:
    """`path` with the token cut to its first characters, for logs (as opsgov.redaction.redact cuts every secret)."""
    return redact(path.replace(token, token[:TOKEN_PREFIX_LENGTH] + ELLIPSIS) if token else path)


Endpoint = Callable[[Incoming, str | None], Answer]


def answer(endpoint: Endpoint, incoming: Incoming, token: str | None) -> Answer:
    """`endpoint`'s answer to a request: POST only; a Reject becomes its JSON answer, a
    database error while authenticating or storing a 503 and any other error a 500 (the sender retries).
    All are logged here with the token redacted (the view keeps Django from logging the path again)."""
    try:
        if incoming.method != "POST":
            raise Reject(405, "method not allowed", "Send events with POST.")
        return endpoint(incoming, token)
    except Reject as refused:
        reject = _bad_token_limited(incoming, refused)
        logger.warning("%s %s: %s", reject.status, _redacted(incoming.path, token), reject.body["message"])
        return reject.answer()
    except DatabaseError:
        logger.exception("503 %s: the event could not be stored", _redacted(incoming.path, token))
        return Answer(503, {"status": "error", "message": "The event could not be stored; retry later."}, logged=True)
    except Exception:
        # Not Django's 500 page: its log line would show the token, and senders retry a 5xx anyway.
        logger.exception("500 %s: the event could not be handled", _redacted(incoming.path, token))
        return Answer(500, {"status": "error", "message": "The event could not be handled; retry later."}, logged=True)


def alertmanager_dedup_key(group_key: str) -> str:
    """groupKey, or a digest of it when it is longer than a dedup key may be (255)."""
    if len(group_key) <= 255:
        return group_key
    return "sha256:" + hashlib.sha256(group_key.encode()).hexdigest()


def alertmanager(incoming: Incoming, token: str | None) -> Answer:
    """POST /api/v1/ingest/alertmanager/<token>/: an Alertmanager webhook (version 4).

    Stored with action "trigger" while the group fires and "resolve" when it is
    resolved, keyed by the groupKey.
    """
    token = _token(incoming, token)
    kinds, endpoint = (IntegrationKind.ALERTMANAGER.value,), "Alertmanager"
    _check_token_before_body(token, kinds=kinds, endpoint=endpoint)
    with _token_refusal_first(token, kinds=kinds, endpoint=endpoint):
        data, text = _json_body(incoming)
        try:
            webhook = AlertmanagerWebhook.model_validate(data)
        except ValidationError as exc:
            raise Reject(400, _INVALID, "Event object is invalid", error_lines(exc)) from None
    event_uuid = _store(
        token=token,
        kinds=kinds,
        endpoint=endpoint,
        dedup_key=alertmanager_dedup_key(webhook.groupKey),
        action="trigger" if webhook.status == "firing" else "resolve",
        payload_json=text,
    )
    return Answer(202, {"status": "success", "message": "Event accepted", "event": str(event_uuid)})


def pagerduty(incoming: Incoming, token: str | None) -> Answer:
    """POST /api/v1/ingest/pagerduty/<token>/enqueue: a PagerDuty Events API v2 event.

    Also served token-less at /api/v1/ingest/pagerduty/enqueue, /api/v1/ingest/v2/enqueue
    and /api/v1/ingest/pagerduty/v2/enqueue. Where the integration token comes from, first found wins:
    1. the URL path;
    2. an `Authorization: Bearer <token>` header (malformed: 401; unknown, disabled, other kind: 403);
    3. the body's `routing_key`, as PagerDuty's own endpoint takes it (an Events v2 sender such as
       Alertmanager's pagerduty_configs sets nothing else). The body's routing_key is ignored when
       1 or 2 gives a token. A routing_key that is missing or null, malformed, or not the token of an
       enabled pagerduty/generic integration is answered as PagerDuty answers it: 400 `invalid event`
       with "Invalid routing key" in `errors` (and, for a disabled or other-kind integration, the
       reason), never 401/403: senders drop a 4xx, and a 5xx would make them retry forever.

    A trigger without a dedup_key gets one (uuid4 hex), returned in the answer:
    later acknowledge/resolve events send it back. Accepting an event is one
    statement in every case (the insert that finds the integration by its token's hash).
    """
    kinds, endpoint = EVENTS_V2_KINDS, "PagerDuty Events v2"
    if token is None and not _bearer_given(incoming):
        with _as_routing_key_refusal():
            event, data, text, token = _event_with_routing_key(incoming, kinds=kinds, endpoint=endpoint)
            dedup_key = _store_pagerduty_event(event, data, text, token=token, kinds=kinds, endpoint=endpoint)
    else:
        token = _token(incoming, token)
        _check_token_before_body(token, kinds=kinds, endpoint=endpoint)
        with _token_refusal_first(token, kinds=kinds, endpoint=endpoint):
            data, text = _json_body(incoming)
            event = _pagerduty_event(data)
        dedup_key = _store_pagerduty_event(event, data, text, token=token, kinds=kinds, endpoint=endpoint)
    return Answer(202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key})


def _pagerduty_event(data: Any) -> PagerDutyEvent:
    """`data` validated as the Events v2 event its event_action names; or a Reject (400) with pydantic's field paths."""
    try:
        return parse_pagerduty_event(data)
    except ValidationError as exc:
        raise Reject(400, _INVALID, "Event object is invalid", error_lines(exc)) from None


def _store_pagerduty_event(
    event: PagerDutyEvent, data: Any, text: str, *, token: str, kinds: tuple[str, ...], endpoint: str
) -> str:
    """Store a validated event (`data`, its JSON `text`) for the integration of `token`; returns its dedup key.

    A routing_key that is the token itself is stored cut to its prefix: the
    token is a secret that opsgov keeps only hashed (Integration.token_hash).
    """
    if event.routing_key == token:
        text = _routing_key_cut(text, data, token)
    # Only a trigger can come without one: the schema requires it of acknowledge and resolve.
    dedup_key = event.dedup_key or uuid.uuid4().hex
    _store(
        token=token, kinds=kinds, endpoint=endpoint, dedup_key=dedup_key, action=event.event_action, payload_json=text
    )
    return dedup_key


def _routing_key_cut(text: str, data: dict[str, Any], token: str) -> str:
    """The body's JSON text with its routing_key (the integration token) cut to its first characters."""
    cut = token[:TOKEN_PREFIX_LENGTH] + "..."
    if f'"{token}"' in text:  # a token has no character that JSON escapes: it is written as itself
        return text.replace(f'"{token}"', f'"{cut}"')
    return json.dumps({**data, "routing_key": cut})  # written with \u escapes: write the body anew


def _bearer_given(incoming: Incoming) -> bool:
    """True when the Authorization header names the Bearer scheme: then it, not a body's routing_key, has the token."""
    header = incoming.authorization or ""
    return header.partition(" ")[0].lower() == "bearer"


def _event_with_routing_key(
    incoming: Incoming, *, kinds: tuple[str, ...], endpoint: str
) -> tuple[PagerDutyEvent, Any, str, str]:
    """The body's event (validated and as parsed), its JSON text and its routing_key (shaped like a token); or a Reject.

    The body's own refusals (411, 413, 415, malformed JSON) come first: there is
    no token to check before reading it. Then, as with a token in the URL, a
    refused routing_key wins over an invalid event (the lookup is made only then).
    """
    data, text = _json_body(incoming)
    routing_key = data.get("routing_key") if isinstance(data, dict) else None
    if not isinstance(routing_key, str):
        # Missing or null (and no other token given), or not a string: named, with the event's other errors.
        errors = ["routing_key: Field required"] if routing_key is None and isinstance(data, dict) else []
        try:
            parse_pagerduty_event(data)
        except ValidationError as exc:
            errors += error_lines(exc)
        raise Reject(400, _INVALID, "Event object is invalid", errors)
    if not _TOKEN_RE.fullmatch(routing_key):
        raise Reject(400, _INVALID, "Event object is invalid", ["Invalid routing key"])
    with _token_refusal_first(routing_key, kinds=kinds, endpoint=endpoint):
        event = _pagerduty_event(data)
    return event, data, text, routing_key


@contextmanager
def _as_routing_key_refusal() -> Iterator[None]:
    """Answer a refused body routing_key as PagerDuty does: 400 `invalid event`, "Invalid routing key".

    The token checks raise 403 (no such integration, disabled, another kind);
    for a routing_key that becomes the 400, with the reason as a second error
    line when the key does belong to an integration.
    """
    try:
        yield
    except Reject as reject:
        if reject.status != 403:
            raise
        errors = ["Invalid routing key"]
        if reject.body["message"] != _NO_INTEGRATION:
            errors.append(reject.body["message"])
        raise Reject(400, _INVALID, "Event object is invalid", errors) from None
