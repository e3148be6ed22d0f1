"""Taxonomy, model and policy descriptions; health, readiness and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from classifier.artifact import ArtifactMeta
from serving.db import ping
from serving.deps import ScreenerDep, StateDep, get_principal, require
from serving.errors import APIError

router = APIRouter(tags=["service"])


@router.get("/v1/taxonomy")
def taxonomy(state: StateDep, _: ScreenerDep) -> dict[str, Any]:
    """Capabilities, risk factors and tiers with their definitions and tier rules."""
    tax = state.classifier.taxonomy

    def label(lab: Any) -> dict[str, Any]:
        return {
            "id": lab.id,
            "name": lab.name,
            "definition": lab.definition,
            "cues": list(lab.cues),
            "hard_negatives": list(lab.hard_negatives),
            "legal_anchor": lab.legal_anchor,
            "min_tier": lab.min_tier.id,
        }

    return {
        "version": tax.version,
        "capabilities": [label(c) for c in tax.capabilities],
        "risk_factors": [
            {k: v for k, v in label(r).items() if k not in {"min_tier", "legal_anchor"}} for r in tax.risk_factors
        ],
        "tiers": [{"id": k, "meaning": v} for k, v in tax.tier_meanings.items()],
        "critical_rules": [{"labels": sorted(r.labels), "reason": r.reason} for r in tax.critical_rules],
    }


MODEL_FIELDS = ("metrics", "base_model", "created", "temperature", "windows", "data")


@router.get("/v1/model")
def model(state: StateDep, _: ScreenerDep) -> dict[str, Any]:
    """The loaded model: version, thresholds and the metrics recorded when it was trained."""
    m = state.classifier.model
    meta = getattr(m, "meta", None)
    info = meta.model_dump(mode="json", include=set(MODEL_FIELDS)) if isinstance(meta, ArtifactMeta) else {}
    return {"version": m.version, "thresholds": m.thresholds, **{k: info.get(k) for k in MODEL_FIELDS}}


@router.get("/v1/policy")
def policy(state: StateDep, _: ScreenerDep) -> dict[str, Any]:
    """The screening policy in force, with its version (the file's hash)."""
    return state.policy.describe()


@router.get("/healthz", include_in_schema=True)
async def healthz() -> dict[str, str]:
    """The process is up; answered on the event loop, so it stays fast while inference is busy."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready"}})
def readyz(state: StateDep) -> JSONResponse:
    """The model is loaded and the database answers."""
    checks = {"model": state.classifier is not None, "database": ping(state.engine), "policy": state.policy is not None}
    ok = all(checks.values())
    body = {"status": "ready" if ok else "not_ready", "checks": checks, "model_version": state.classifier.version}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response)
def metrics(request: Request, state: StateDep) -> Response:
    """Prometheus metrics of this process (needs an admin key unless metrics_public is set)."""
    if not state.settings.metrics_public:
        principal = get_principal(request, state)
        require("admin")(principal)
    if state.metrics is None:  # pragma: no cover
        raise APIError(503, "not_ready", "metrics are not set up")
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4")
