"""A request's time budget and cancellation, visible to the worker threads doing its slow work.

The service opens a budget per request (deadline + a flag set when the client goes away);
extraction and the service's batch loop call `check()` between steps, so work stops soon
after the deadline or the disconnect instead of running on unseen. Outside a request (CLI,
tests) there is no budget and `check()` does nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


class BudgetExceeded(Exception):
    """The request ran out of time (`deadline_exceeded`) or its client left (`client_disconnected`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Budget:
    """Deadline on the monotonic clock (None: no deadline) and a thread-safe cancellation flag."""

    deadline: float | None = None
    limit_s: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def check(self) -> None:
        if self.cancelled.is_set():
            raise BudgetExceeded("client_disconnected", "the client closed the connection; the work was stopped")
        left = self.remaining()
        if left is not None and left <= 0:
            raise BudgetExceeded(
                "deadline_exceeded",
                f"the request took longer than its {self.limit_s:g} s limit (request_timeout_s); nothing was stored; "
                "send a smaller document or fewer documents, or retry later",
            )


_CURRENT: ContextVar[Budget | None] = ContextVar("surveilrisk_budget", default=None)


def current() -> Budget | None:
    return _CURRENT.get()


def check() -> None:
    """Raise BudgetExceeded if the current request is out of time or its client left."""
    budget = _CURRENT.get()
    if budget is not None:
        budget.check()


def wait_limit(limit_s: float) -> float:
    """The shorter of `limit_s` and what is left of the current budget (never below zero)."""
    budget = _CURRENT.get()
    left = budget.remaining() if budget is not None else None
    if left is None:
        return limit_s
    return max(0.0, min(limit_s, left))


@contextmanager
def use(budget: Budget | None) -> Iterator[Budget | None]:
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)


def start(limit_s: float | None) -> Budget:
    """A fresh budget of `limit_s` seconds from now (None: no deadline, cancellation only)."""
    return Budget(deadline=None if limit_s is None else time.monotonic() + limit_s, limit_s=limit_s)
