"""The FastAPI application: wiring only. Routes live in serving/routes, shared pieces in deps."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from classifier.policy import load_policy
from classifier.predict import Classifier
from serving.admission import InferenceQueue
from serving.db import make_engine, make_session_factory, upgrade
from serving.deps import AppState
from serving.errors import install_error_handlers
from serving.observability import Metrics
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


def build_state(settings: ServiceSettings, classifier: Classifier | None = None) -> AppState:
    """Load everything once per process: policy first (fails fast), then database, then model."""
    policy = load_policy(settings.policy_path)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
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
        sessions=make_session_factory(engine),
        metrics=Metrics(),
        inference=InferenceQueue(classifier, settings.inference_queue_limit, settings.inference_max_batch_docs),
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

    app = FastAPI(title="SurveilRisk", version="1.0", description=DESCRIPTION, lifespan=lifespan)
    install_error_handlers(app)

    @app.middleware("http")
    async def _metrics(request, call_next):  # type: ignore[no-untyped-def]
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is None:
            return await call_next(request)
        return await metrics.middleware(request, call_next)

    from serving import web
    from serving.routes import admin, classify, meta, screenings

    app.mount("/static", web.static_files, name="static")
    app.include_router(web.router)
    app.include_router(classify.router)
    app.include_router(screenings.router)
    app.include_router(admin.router)
    app.include_router(meta.router)
    return app
