"""ASGI entry point (gunicorn -c gunicorn.conf.py opsgov.asgi): Django's own handler for every route.

Production serves this with gunicorn's `asgi` worker class (gunicorn.conf.py
says why: a client that stalls its upload costs a socket, not a worker).
Django's ASGIHandler reads a request's whole body in the event loop before it
runs the view; the sync middleware and views run in a thread of the request's
own (asgiref's ThreadSensitiveContext), the same code as under WSGI
(opsgov.wsgi, still used by `manage.py runserver`). A thread per request is
why the ASGI servers take database connections from a pool
(settings.DATABASE_POOL_SIZE) rather than keep one per thread.

The settings module is DJANGO_SETTINGS_MODULE (opsgov.settings by default;
docker-compose.yml's `ingest` service runs opsgov.settings_ingest).
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsgov.settings")

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_TIMEOUT_BODY = b'{"status": "request timeout", "message": "The request body stopped arriving; send it again."}'


class StalledBodyAnswer:
    """Answers 408 Request Timeout (and closes) when a request's body stops arriving before it is complete.

    gunicorn's asgi worker tells the app `http.disconnect` when no body bytes
    came for `timeout` seconds (or the client went away); Django's handler then
    abandons the request without an answer, which gunicorn would turn into a
    500. A sender that stalled gets the 408 that says what happened (RFC 9110,
    15.5.9); a client that has gone gets nothing, as before.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_complete = cut_short = started = False

        async def receive_body() -> Message:
            nonlocal body_complete, cut_short
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                body_complete = True
            elif message["type"] == "http.disconnect" and not body_complete:
                cut_short = True
            return message

        async def send_answer(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, receive_body, send_answer)
        if cut_short and not started:
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_TIMEOUT_BODY)).encode()),
                (b"connection", b"close"),
            ]
            # The transport may be gone (the client closed it): then there is no one to answer.
            with suppress(Exception):
                await send({"type": "http.response.start", "status": 408, "headers": headers})
                await send({"type": "http.response.body", "body": _TIMEOUT_BODY})


class IngestBodyLimit:
    """Refuses an ingestion request whose body is too large (413) or of unknown length (411), unread.

    Django's ASGI handler reads a request's whole body before any view runs;
    incidents.ingest.handling refuses these same requests, with the same
    answers, but only once that body has been read (spooled to disk when large).
    Checked here on the headers, the body is never read. (So under ASGI these
    two refusals come before the token's 403, which otherwise comes first.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith(INGEST_PREFIX):
            reject = self._refusal(dict(scope["headers"]).get(b"content-length"))
            if reject is not None:
                answer = reject.answer()
                logger.warning("%s %s: %s", answer.status, redact(scope["path"]), answer.body["message"])
                body = json.dumps(answer.body).encode()
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ]
                await send({"type": "http.response.start", "status": answer.status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _refusal(content_length: bytes | None) -> Reject | None:
        if content_length is None:
            return Reject(411, "invalid event", "A Content-Length header is required.")
        try:
            length = int(content_length)
        except ValueError:
            return None  # the view answers it (400, naming the header)
        if length > MAX_BODY_BYTES:
            return Reject(413, "payload too large", f"The body is {length} bytes; the limit is {MAX_BODY_BYTES} bytes.")
        return None


django_application = get_asgi_application()

# Imported once Django is set up (the handling imports models).
from incidents.ingest.handling import MAX_BODY_BYTES, Reject, logger  # noqa: E402
from incidents.ingest.log_filters import redact  # noqa: E402

#: Where the ingestion endpoints live (opsgov.urls and opsgov.urls_ingest mount them there).
INGEST_PREFIX = "/api/v1/ingest/"

application = StalledBodyAnswer(IngestBodyLimit(django_application))

# As in opsgov.wsgi: what loading the app created lives as long as the process, out of the
# cyclic garbage collector's generations (bench/metrics_scrape_bench.py).
gc.freeze()
