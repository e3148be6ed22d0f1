"""Shared dependencies: application state, database sessions, the caller's identity and role."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from classifier.extract import Limits
from classifier.policy import Policy
from classifier.predict import Classifier
from serving.admission import InferenceQueue
from serving.audit import Anchor, Keyring
from serving.auth import ROLES, Principal, authenticate
from serving.db import read_scope, session_scope
from serving.errors import APIError
from serving.observability import Metrics
from serving.security import AuthThrottle, RateLimiter, retry_after
from serving.settings import ServiceSettings

log = logging.getLogger("surveilrisk.api")


@dataclass
class AppState:
    """Everything loaded once per process at start-up."""

    settings: ServiceSettings
    classifier: Classifier
    policy: Policy
    engine: Engine
    sessions: sessionmaker[Session]
    metrics: Metrics
    inference: InferenceQueue
    keyring: Keyring | None = None
    anchor: Anchor | None = None
    throttle: AuthThrottle | None = None
    rate_limiter: RateLimiter | None = None

    @property
    def limits(self) -> Limits:
        return self.classifier.limits


def get_state(request: Request) -> AppState:
    return request.app.state.sr  # type: ignore[no-any-return]


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A read transaction: on SQLite it never takes the write lock (writes open their own, short one)."""
    with read_scope(state.sessions) as session:
        yield session


def write_session(state: AppState) -> AbstractContextManager[Session]:
    """A short write transaction (BEGIN IMMEDIATE on SQLite); open it only once the slow work is done."""
    return session_scope(state.sessions, write=True)


SessionDep = Annotated[Session, Depends(get_session)]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def get_principal(request: Request, state: StateDep) -> Principal:
    throttle, client = state.throttle, _client(request)
    if throttle is not None and (wait := throttle.locked_for(client)):
        raise APIError(
            429, "too_many_requests", f"too many failed API keys from {client}; wait {wait:.0f} s", retry_after(wait)
        )
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise APIError(
            401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'", {"WWW-Authenticate": "Bearer"}
        )
    with read_scope(state.sessions) as session:
        principal = authenticate(session, token.strip())
    if principal is None:
        if throttle is not None and (lock := throttle.failed(client)):
            log.warning("locked out %s for %.0f s after repeated failed API keys", client, lock)
            raise APIError(429, "too_many_requests", f"too many failed API keys; wait {lock:.0f} s", retry_after(lock))
        raise APIError(401, "unauthorized", "the API key is unknown or revoked", {"WWW-Authenticate": "Bearer"})
    limiter = state.rate_limiter
    if limiter is not None and (wait := limiter.take(principal.key_id)):
        raise APIError(
            429,
            "too_many_requests",
            f"this key is over its rate limit of {state.settings.rate_limit_per_minute} requests a minute",
            retry_after(wait),
        )
    return principal


def require(role: str) -> Callable[[Principal], Principal]:
    """Dependency factory: the caller must hold `role` or a higher one."""
    assert role in ROLES

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.can(role):
            raise APIError(403, "forbidden", f"this needs the {role} role; your key has the {principal.role} role")
        return principal

    return check


ScreenerDep = Annotated[Principal, Depends(require("screener"))]
ReviewerDep = Annotated[Principal, Depends(require("reviewer"))]
AdminDep = Annotated[Principal, Depends(require("admin"))]
