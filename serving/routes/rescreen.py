"""Re-screening impact for administrators: which stored decisions another model or policy would flip."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from classifier.policy import Policy, PolicyError, parse_policy
from classifier.predict import Classifier
from serving.auth import Principal
from serving.db import read_scope
from serving.deps import AdminDep, AppState, StateDep, write_session
from serving.errors import APIError
from serving.inputs import ParsedRequest, parse_request, validate_json
from serving.rescreen import apply, replay, report_csv, report_document
from serving.schemas import MAX_POLICY_CHARS, ErrorBody, RescreenReport, RescreenRequest

router = APIRouter(prefix="/v1", tags=["administration"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 413, 415, 422)}


async def _parse(request: Request, state: StateDep) -> ParsedRequest:
    return await parse_request(request, MAX_POLICY_CHARS, 1, ("policy",), max_fields=state.settings.max_form_fields)


def _request(parsed: ParsedRequest) -> RescreenRequest:
    """JSON body, or a multipart form whose `policy` file stands for `policy_yaml`."""
    if parsed.json_body is not None:
        body = validate_json(RescreenRequest, parsed.json_body)
        assert isinstance(body, RescreenRequest)
        return body
    fields: dict[str, object] = {k: v for k, v in parsed.fields.items() if v != ""}
    if parsed.documents:
        data = parsed.documents[0].data or b""
        try:
            fields["policy_yaml"] = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise APIError(422, "invalid_policy", "the policy file is not UTF-8 text") from None
    body = validate_json(RescreenRequest, fields)
    assert isinstance(body, RescreenRequest)
    return body


def _policy(state: AppState, text: str | None) -> Policy:
    if text is None:
        return state.policy
    try:
        # Anchors and aliases let a small file expand without bound; a policy never needs them.
        if any(isinstance(t, yaml.AliasToken) for t in yaml.scan(text)):
            raise APIError(422, "invalid_policy", "the policy uses YAML aliases (*name); write the values out")
        return parse_policy(text, "the uploaded policy")
    except yaml.YAMLError as exc:
        raise APIError(422, "invalid_policy", f"the uploaded policy is not valid YAML: {exc}") from None
    except PolicyError as exc:
        raise APIError(422, "invalid_policy", str(exc)) from None


def _classifier(state: AppState, name: str) -> Classifier:
    if name == "loaded":
        return state.classifier
    return Classifier.load(name, limits=state.limits, review=state.settings.review)


def _run(state: AppState, principal: Principal, body: RescreenRequest) -> dict[str, Any]:
    policy = _policy(state, body.policy_yaml)
    clf = _classifier(state, body.model)
    since = datetime(body.since.year, body.since.month, body.since.day) if body.since else None
    # The slow replay reads only; the records are appended afterwards in one short write transaction.
    with read_scope(state.sessions) as session:
        report = replay(session, clf, policy, since)
    written = []
    if body.apply:
        with write_session(state) as ws:
            written = apply(ws, report, principal.name, principal.key_id)
    return {"report": report, "applied": len(written)}


@router.post(
    "/rescreen",
    response_model=RescreenReport,
    responses={**ERRORS, 200: {"content": {"text/csv": {}}}},
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": RescreenRequest.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "policy": {"type": "string", "format": "binary", "description": "Policy YAML file"},
                            "model": {"type": "string", "enum": ["loaded", "keyword"]},
                            "since": {"type": "string", "format": "date"},
                            "apply": {"type": "boolean"},
                        },
                    }
                },
            }
        }
    },
)
async def rescreen(
    state: StateDep,
    principal: AdminDep,
    parsed: Annotated[ParsedRequest, Depends(_parse)],
    format: Annotated[Literal["json", "csv"], Query(description="`csv`: the flips as a CSV file.")] = "json",
) -> Any:
    """Replay stored screenings (stored text, same destination and end user) with another model or policy and
    list every decision that would flip; a dry run unless `apply` is true. Same report as `surveilrisk rescreen`.

    With `apply`, one `rescreen` decision record per applicable flip is appended to the audit chain; a
    screening whose decision in force is a person's review is reported but never changed."""
    body = _request(parsed)
    out = await run_in_threadpool(_run, state, principal, body)
    report, applied = out["report"], out["applied"]
    if format == "csv":
        return Response(
            report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="rescreen.csv"'},
        )
    return report_document(report, applied)
