"""Small defences: response headers, CSV cells, stored file names, failed-key lockout, rate limits."""

from __future__ import annotations

import math
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

# No inline script anywhere: the page's code lives in /static. Inline styles stay allowed (the
# templates and Swagger use style attributes); they cannot run code.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# The interactive API docs (Swagger UI, ReDoc) are local files started without inline script;
# ReDoc runs its search in a worker made from a blob.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)


class SecurityHeaders:
    """Adds CSP, nosniff, frame and referrer headers to every response (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"].startswith(DOCS_PATHS) else CSP

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = [*SECURITY_HEADERS, (b"content-security-policy", csp.encode())]
                headers.extend((k, v) for k, v in extra if k not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, add_headers)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> object:
    """A CSV cell that a spreadsheet will not run as a formula: a leading = + - @ gets a quote mark."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


_BIDI = {
    "\u061c",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
}


def clean_filename(name: str | None, max_chars: int = 255) -> str | None:
    """A stored file name without control, format (bidi, zero-width) or path characters.

    U+202E can make "evil\u202etxt.exe" display as "evilexe.txt"; NUL and newlines break logs and
    CSV files. Only the last path component is kept.
    """
    if name is None:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = [c for c in name if c not in _BIDI and unicodedata.category(c) not in {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}]
    cleaned = " ".join("".join(kept).split())[:max_chars].strip()
    return cleaned or "upload"


@dataclass
class _Window:
    failures: deque[float]
    locked_until: float = 0.0


class AuthThrottle:
    """Failed API keys per client address: past `max_failures` in `window_s`, the address is locked out.

    In memory and per process: with several workers each counts on its own, which still caps
    a guessing client at `workers * max_failures` tries per window.
    """

    def __init__(self, max_failures: int, window_s: float, lockout_s: float, max_clients: int = 100_000) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.max_clients = max_clients
        self._clients: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def locked_for(self, client: str, now: float | None = None) -> float:
        """Seconds the client must still wait (0: not locked)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            entry = self._clients.get(client)
            return max(0.0, entry.locked_until - now) if entry else 0.0

    def failed(self, client: str, now: float | None = None) -> float:
        """Record a failed key; return the lockout in seconds if this failure started one."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._clients) >= self.max_clients:
                self._prune(now)
            entry = self._clients.setdefault(client, _Window(deque()))
            entry.failures.append(now)
            while entry.failures and entry.failures[0] < now - self.window_s:
                entry.failures.popleft()
            if len(entry.failures) >= self.max_failures:
                entry.locked_until = now + self.lockout_s
                entry.failures.clear()
                return self.lockout_s
            return 0.0

    def _prune(self, now: float) -> None:
        stale = [k for k, v in self._clients.items() if v.locked_until < now and not v.failures]
        for k in stale or list(self._clients)[: len(self._clients) // 2]:
            del self._clients[k]


class RateLimiter:
    """Token bucket per API key: `per_minute` requests a minute, bursts up to the same number."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: int, now: float | None = None) -> float:
        """Take one token; return 0 if allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key_id] = (tokens - 1, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1 - tokens) / self.rate


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
