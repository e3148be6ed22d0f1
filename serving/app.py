"""The FastAPI application: wiring only. Routes live in serving/routes, shared pieces in deps."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from classifier.policy import load_policy
from classifier.predict import Classifier
from serving.admission import InferenceQueue
from serving.audit import Anchor, Keyring, adopt_unrecorded_keys, ensure_triggers, load_keyring
from serving.db import make_engine, make_session_factory, session_scope, upgrade
from serving.deps import AppState
from serving.errors import install_error_handlers
from serving.limits import RequestLimits
from serving.observability import Metrics
from serving.security import AuthThrottle, RateLimiter, SecurityHeaders
from serving.settings import ServiceSettings

log = logging.getLogger("surveilrisk.api")

DESCRIPTION = """
SurveilRisk reads product datasheets and marketing copy, says which surveillance capabilities a
product has (with the text that shows each one), assigns a human-rights risk tier, and screens
export transactions (tier × destination × end user → action) under an editable policy.

Authenticate with `Authorization: Bearer <API key>`. Roles: `screener` (classify, create and
read own screenings), `reviewer` (+ read all, review), `admin` (+ keys, feedback export).
Every error is JSON: `{"code": "...", "message": "..."}`.
"""


def open_audit(settings: ServiceSettings, engine: Engine) -> tuple[Keyring, Anchor, sessionmaker[Session]]:
    """Keyring, anchor file and keyed sessions; checks the append-only triggers (restores or refuses)."""
    keyring = load_keyring(settings.audit_key, settings.effective_audit_key_file)
    anchor = Anchor(settings.effective_audit_anchor_file, keyring)
    sessions = make_session_factory(engine, keyring, anchor)
    with session_scope(sessions) as session:
        ensure_triggers(engine, session, repair=settings.audit_repair_triggers)
        adopted = adopt_unrecorded_keys(session)
    if adopted:
        log.info("recorded %d existing API keys in the audit chain", adopted)
    return keyring, anchor, sessions


def build_state(settings: ServiceSettings, classifier: Classifier | None = None) -> AppState:
    """Load everything once per process: policy first (fails fast), then database, then model."""
    policy = load_policy(settings.policy_path)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    keyring, anchor, sessions = open_audit(settings, engine)
    if classifier is None:
        classifier = Classifier.load(
            settings.model,
            limits=settings.limits,
            batch_size=settings.inference_batch_size,
            review=settings.review,
            runtime=settings.runtime,
        )
    else:
        classifier.limits = settings.limits
    return AppState(
        settings=settings,
        classifier=classifier,
        policy=policy,
        engine=engine,
        sessions=sessions,
        metrics=Metrics(),
        inference=InferenceQueue(classifier, settings.inference_queue_limit, settings.inference_max_batch_docs),
        keyring=keyring,
        anchor=anchor,
        throttle=AuthThrottle(settings.auth_max_failures, settings.auth_failure_window_s, settings.auth_lockout_s),
        rate_limiter=RateLimiter(settings.rate_limit_per_minute),
    )


def create_app(settings: ServiceSettings | None = None, classifier: Classifier | None = None) -> FastAPI:
    """Application factory; `classifier` lets tests share one loaded model between apps."""
    settings = settings or ServiceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(settings, classifier)
        app.state.sr = state
        app.state.metrics = state.metrics
        runtime = getattr(state.classifier.model, "runtime", "n/a")
        log.info("ready: model %s (%s), policy %s", state.classifier.version, runtime, state.policy.version)
        yield
        state.inference.close()
        state.engine.dispose()

    # The docs pages are served from local files by serving.docs (no CDN, no inline script).
    app = FastAPI(
        title="SurveilRisk",
        version="1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)

    @app.middleware("http")
    async def _metrics(request, call_next):  # type: ignore[no-untyped-def]
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is None:
            return await call_next(request)
        return await metrics.middleware(request, call_next)

    # Outermost last: headers go on every response, even the limiter's early 413s.
    app.add_middleware(RequestLimits, settings=settings)
    app.add_middleware(SecurityHeaders)

    from serving import docs, web
    from serving.routes import admin, classify, meta, rescreen, screenings, worklist

    app.mount("/static", web.static_files, name="static")
    app.mount(docs.ASSETS_URL, docs.assets(), name="static-docs")
    app.include_router(web.router)
    app.include_router(docs.router)
    app.include_router(classify.router)
    app.include_router(screenings.router)
    app.include_router(worklist.router)
    app.include_router(admin.router)
    app.include_router(rescreen.router)
    app.include_router(meta.router)
    return app
