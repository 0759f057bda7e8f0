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


application = StalledBodyAnswer(get_asgi_application())

# As in opsgov.wsgi: what loading the app created lives as long as the process, out of the
# cyclic garbage collector's generations (bench/metrics_scrape_bench.py).
gc.freeze()
