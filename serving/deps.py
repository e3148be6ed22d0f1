"""Shared dependencies: application state, database sessions, the caller's identity and role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from classifier.extract import Limits
from classifier.policy import Policy
from classifier.predict import Classifier
from serving.admission import InferenceQueue
from serving.auth import ROLES, Principal, authenticate
from serving.db import session_scope
from serving.errors import APIError
from serving.observability import Metrics
from serving.settings import ServiceSettings


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

    @property
    def limits(self) -> Limits:
        return self.classifier.limits


def get_state(request: Request) -> AppState:
    return request.app.state.sr  # type: ignore[no-any-return]


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with session_scope(state.sessions) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_principal(request: Request, state: StateDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise APIError(
            401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'", {"WWW-Authenticate": "Bearer"}
        )
    # A short transaction of its own: on SQLite a request-long one would hold the write lock.
    with session_scope(state.sessions) as session:
        principal = authenticate(session, token.strip())
    if principal is None:
        raise APIError(401, "unauthorized", "the API key is unknown or revoked", {"WWW-Authenticate": "Bearer"})
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
