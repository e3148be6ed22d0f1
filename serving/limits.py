"""Bounded cost per request: body size while streaming, body idle timeout, deadline, disconnects.

One pure ASGI middleware wraps the whole app:

- the body is counted as it arrives (chunked bodies included) and refused with 413 as soon as
  it passes the route's limit, never buffered whole first;
- a client that stops sending its body for `body_idle_timeout_s` gets 408;
- a refused body looks like a disconnect to the app (so no layer inside can turn it into a 500
  or a 400), and this middleware sends the 413/408 itself;
- every request runs under a `classifier.budget.Budget`: its deadline (`request_timeout_s`) and
  a flag set when the client disconnects, which the slow work (extraction, batches) checks so
  it stops instead of running on unseen;
- a client that leaves is logged as one info line, not as an ASGI exception.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect

from classifier import budget as budgets
from serving.settings import ServiceSettings

log = logging.getLogger("surveilrisk.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Routes that take uploads; every other route gets the small JSON limit.
UPLOAD_ROUTES = {("POST", "/v1/classify"), ("POST", "/v1/classify/batch"), ("POST", "/v1/screenings")}


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str


def body_limit(settings: ServiceSettings, method: str, path: str) -> int:
    """The most body bytes a route accepts: uploads get max_request_bytes, the rest max_json_body_bytes."""
    if (method, path.rstrip("/") or "/") in UPLOAD_ROUTES:
        return settings.max_request_bytes
    return settings.max_json_body_bytes


def _timeout_for(settings: ServiceSettings, path: str) -> float:
    if path.rstrip("/") == "/v1/classify/batch":
        return max(settings.request_timeout_s, settings.batch_budget_s + 30)
    return settings.request_timeout_s


async def _send_error(send: Send, status: int, code: str, message: str, close: bool = True) -> None:
    body = json.dumps({"code": code, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """The middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, settings: ServiceSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(self.settings, scope["method"], scope["path"])
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                await _send_error(send, 400, "bad_request", "the Content-Length header is not a number")
                return
            if int(length) > limit:
                await _send_error(
                    send, 413, "payload_too_large", f"the request body is over the limit of {limit:,} bytes"
                )
                return
        guard = _Guard(self.settings, receive, limit)
        started = False

        async def tracked_send(message: Message) -> None:
            # Once the body was refused, whatever the app answers (it saw a disconnect) is replaced.
            nonlocal started
            if guard.refusal is not None:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _send_error(send, guard.refusal.status, guard.refusal.code, guard.refusal.message)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        budget = budgets.start(_timeout_for(self.settings, scope["path"]))
        guard.budget = budget
        try:
            with budgets.use(budget):
                await self.app(scope, guard.receive, tracked_send)
        except BaseException as exc:
            if not _is_disconnect(exc) and guard.refusal is None:
                raise
            budget.cancelled.set()
            if guard.refusal is None:
                log.info("client left during %s %s", scope["method"], scope["path"])
        finally:
            guard.stop()
        if guard.refusal is not None and not started:
            log.info("refused %s %s: %s", scope["method"], scope["path"], guard.refusal.message)
            await _send_error(send, guard.refusal.status, guard.refusal.code, guard.refusal.message)


def _is_disconnect(exc: BaseException) -> bool:
    """A client disconnect, possibly wrapped in exception groups by middleware task groups."""
    if isinstance(exc, ClientDisconnect | ConnectionError):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_disconnect(e) for e in exc.exceptions)
    return False


class _Guard:
    """Wraps `receive`: counts body bytes, times out stalled bodies, then watches for a disconnect."""

    def __init__(self, settings: ServiceSettings, receive: Receive, limit: int) -> None:
        self.settings = settings
        self.inner = receive
        self.limit = limit
        self.received = 0
        self.body_done = False
        self.disconnected = False
        self.budget: budgets.Budget | None = None
        self.refusal: Refusal | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._gone = asyncio.Event()

    async def receive(self) -> Message:
        if self.body_done:
            # After the body, the watcher owns the real receive; callers learn of a disconnect from it.
            await self._gone.wait()
            return {"type": "http.disconnect"}
        if self.refusal is not None:
            return {"type": "http.disconnect"}
        try:
            message = await asyncio.wait_for(self.inner(), timeout=self.settings.body_idle_timeout_s)
        except TimeoutError:
            seconds = self.settings.body_idle_timeout_s
            return self._refuse(
                408, "request_timeout", f"the request body stalled for more than {seconds:g} s (body_idle_timeout_s)"
            )
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                message_text = f"the request body is over the limit of {self.limit:,} bytes for this route"
                return self._refuse(413, "payload_too_large", message_text)
            if not message.get("more_body", False):
                self.body_done = True
                self._watcher = asyncio.ensure_future(self._watch())
        elif message["type"] == "http.disconnect":
            self._mark_gone()
        return message

    async def _watch(self) -> None:
        try:
            message = await self.inner()
        except Exception:  # the server tore the connection down
            message = {"type": "http.disconnect"}
        if message["type"] == "http.disconnect":
            self._mark_gone()

    def _refuse(self, status: int, code: str, message: str) -> Message:
        """Stop reading: the app sees a disconnect, the middleware answers with this error."""
        self.refusal = Refusal(status, code, message)
        if self.budget is not None:
            self.budget.cancelled.set()
        return {"type": "http.disconnect"}

    def _mark_gone(self) -> None:
        self.disconnected = True
        if self.budget is not None:
            self.budget.cancelled.set()
        self._gone.set()

    def stop(self) -> None:
        if self._watcher is not None and not self._watcher.done():
            self._watcher.cancel()
