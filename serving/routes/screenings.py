"""Screenings (classification + policy decision, stored) and their reviews."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from classifier.policy import Action
from classifier.results import ClassificationResult
from classifier.taxonomy import TaxonomyError, Tier
from classifier.text import find_quote
from serving.auth import Principal
from serving.db import session_scope
from serving.deps import AppState, ReviewerDep, ScreenerDep, SessionDep, StateDep
from serving.errors import APIError
from serving.inputs import DocumentInput, ParsedRequest, parse_request, validate_json
from serving.schemas import (
    ActionId,
    ErrorBody,
    ReviewCreate,
    ReviewOut,
    ScreeningCreate,
    ScreeningOut,
    ScreeningPage,
    TierId,
)
from serving.service import classify_many, review_out, screening_out, screening_summary
from serving.store import (
    NotFoundError,
    ScreeningFilter,
    add_review,
    create_screening,
    get_screening,
    list_screenings,
    reviews_of,
)
from serving.tables import Review, Screening

router = APIRouter(prefix="/v1/screenings", tags=["screenings"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404, 413, 415, 422, 503)}
SCREENING_DOC = {
    "requestBody": {
        "content": {
            "application/json": {"schema": ScreeningCreate.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["destination", "end_user_type"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "PDF, DOCX, HTML, TXT or MD"},
                        "text": {"type": "string", "description": "Instead of a file"},
                        "destination": {"type": "string", "example": "BR"},
                        "end_user_type": {"type": "string", "example": "public_security"},
                        "end_user_name": {"type": "string"},
                        "reference": {"type": "string"},
                    },
                }
            },
        },
        "required": True,
    }
}


async def _parse(request: Request, state: StateDep) -> ParsedRequest:
    return await parse_request(request, state.settings.max_upload_bytes, 1, ("file",))


def _screening_input(parsed: ParsedRequest) -> tuple[DocumentInput, ScreeningCreate]:
    if parsed.json_body is not None:
        body = validate_json(ScreeningCreate, parsed.json_body)
        assert isinstance(body, ScreeningCreate)
        return DocumentInput(text=body.text, title=body.title), body
    fields = dict(parsed.fields)
    doc = parsed.documents[0] if parsed.documents else None
    if doc is None and not fields.get("text"):
        raise APIError(422, "missing_document", "send the datasheet in the 'file' field, or its text in 'text'")
    fields.setdefault("text", "(uploaded file)")
    try:
        body = ScreeningCreate.model_validate({k: v for k, v in fields.items() if v != ""})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise APIError(422, "invalid_request", f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    return doc or DocumentInput(text=body.text, title=body.title), body


def _store(state: AppState, principal: Principal, doc: DocumentInput, body: ScreeningCreate) -> ScreeningOut:
    # Validate the transaction before spending time on the model.
    state.policy.decide("minimal", body.destination, body.end_user_type)
    ((extracted, result, status),) = classify_many(state, [doc])
    if not isinstance(result, ClassificationResult) or extracted is None:
        raise APIError(status, result.code, result.message)  # type: ignore[union-attr]
    decision = state.policy.decide(
        result.tier, body.destination, body.end_user_type, review_required=result.review_required
    )
    with session_scope(state.sessions) as session:  # short write transaction, after the slow work
        row = create_screening(
            session,
            created_by_key_id=principal.key_id,
            created_by_name=principal.name,
            reference=body.reference,
            destination=body.destination,
            destination_group=decision.destination_group,
            end_user_type=body.end_user_type,
            end_user_name=body.end_user_name,
            filename=doc.filename or body.title,
            media_type=extracted.media_type,
            size_bytes=extracted.size_bytes,
            document_sha256=extracted.sha256,
            text=extracted.text,
            raw_bytes=doc.data if state.settings.store_raw_documents else None,
            classification=result.model_dump(mode="json"),
            tier=result.tier,
            action=decision.action.id,
            decision={"action": decision.action.id, "reasons": list(decision.reasons), "rule": decision.rule_index},
            policy_version=state.policy.version,
            model_version=result.model_version,
        )
        out = screening_out(row, [])
    state.metrics.screenings.labels(decision.action.id).inc()
    return out


@router.post("", status_code=201, response_model=ScreeningOut, responses=ERRORS, openapi_extra=SCREENING_DOC)
async def create(
    state: StateDep, principal: ScreenerDep, parsed: Annotated[ParsedRequest, Depends(_parse)]
) -> ScreeningOut:
    """Classify a document and decide the export screening; the record is stored for audit."""
    doc, body = _screening_input(parsed)
    with state.inference.admit():
        return await run_in_threadpool(_store, state, principal, doc, body)


def _filter(
    principal: Principal,
    action: str | None,
    tier: str | None,
    reference: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    mine: bool,
) -> ScreeningFilter:
    own = mine or not principal.can("reviewer")
    return ScreeningFilter(
        action=action,
        tier=tier,
        reference=reference,
        created_from=_naive(created_from),
        created_to=_naive(created_to),
        created_by_key_id=principal.key_id if own else None,
    )


@router.get("/export.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_csv(
    session: SessionDep,
    principal: ScreenerDep,
    action: ActionId | None = None,
    tier: TierId | None = None,
    reference: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    mine: bool = False,
) -> Response:
    """The screenings you may see, as CSV for the compliance file (same filters as the list)."""
    flt = _filter(principal, action, tier, reference, created_from, created_to, mine)
    rows, _ = list_screenings(session, flt, offset=0, limit=100_000)
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(
        [
            "id",
            "created_at_utc",
            "created_by",
            "reference",
            "document",
            "destination",
            "destination_group",
            "end_user_type",
            "end_user_name",
            "tier",
            "action",
            "capabilities",
            "policy_version",
            "model_version",
            "document_sha256",
        ]
    )
    for s in rows:
        caps = ";".join(d["id"] for d in s.classification.get("capabilities", []))
        out.writerow(
            [
                s.id,
                s.created_at.isoformat(timespec="seconds"),
                s.created_by_name,
                s.reference or "",
                s.filename or "",
                s.destination,
                s.destination_group,
                s.end_user_type,
                s.end_user_name or "",
                s.tier,
                s.action,
                caps,
                s.policy_version,
                s.model_version,
                s.document_sha256,
            ]
        )
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="screenings.csv"'},
    )


def _visible(principal: Principal, row: Screening) -> bool:
    return principal.can("reviewer") or row.created_by_key_id == principal.key_id


@router.get("/{screening_id}", response_model=ScreeningOut, responses=ERRORS)
def read(screening_id: str, session: SessionDep, principal: ScreenerDep) -> ScreeningOut:
    """One screening exactly as it was decided, with its reviews."""
    try:
        row = get_screening(session, screening_id)
    except NotFoundError:
        raise APIError(404, "not_found", f"no screening {screening_id!r}") from None
    if not _visible(principal, row):
        # Same answer as a missing id: a screener cannot learn which ids exist.
        raise APIError(404, "not_found", f"no screening {screening_id!r}")
    return screening_out(row, reviews_of(session, screening_id))


@router.get("/{screening_id}/report", response_class=HTMLResponse, responses=ERRORS)
def report(
    screening_id: str, request: Request, state: StateDep, session: SessionDep, principal: ScreenerDep
) -> HTMLResponse:
    """A printable HTML report of one screening for the compliance file (print it to PDF)."""
    from serving.web import templates

    s = read(screening_id, session, principal)
    names = {
        lab.id: lab.name for lab in (*state.classifier.taxonomy.capabilities, *state.classifier.taxonomy.risk_factors)
    }
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    return templates.TemplateResponse(request, "report.html", {"s": s, "names": names, "generated": generated})


@router.get("", response_model=ScreeningPage, responses=ERRORS)
def list_(
    session: SessionDep,
    principal: ScreenerDep,
    action: ActionId | None = None,
    tier: TierId | None = None,
    reference: str | None = None,
    created_from: Annotated[datetime | None, Query(description="Inclusive lower bound (ISO 8601, UTC).")] = None,
    created_to: Annotated[datetime | None, Query(description="Exclusive upper bound (ISO 8601, UTC).")] = None,
    mine: Annotated[bool, Query(description="Only my screenings (always true for screeners).")] = False,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ScreeningPage:
    """Screenings, newest first; screeners see their own, reviewers and admins everyone's."""
    own = mine or not principal.can("reviewer")
    flt = ScreeningFilter(
        action=action,
        tier=tier,
        reference=reference,
        created_from=_naive(created_from),
        created_to=_naive(created_to),
        created_by_key_id=principal.key_id if own else None,
    )
    rows, total = list_screenings(session, flt, offset=(page - 1) * page_size, limit=page_size)
    reviewed = {
        r.screening_id for r in session.query(Review.screening_id).filter(Review.screening_id.in_([s.id for s in rows]))
    }
    return ScreeningPage(
        items=[screening_summary(s, s.id in reviewed) for s in rows], total=total, page=page, page_size=page_size
    )


def _naive(dt: datetime | None) -> datetime | None:
    if dt is None or dt.tzinfo is None:
        return dt
    return dt.astimezone(UTC).replace(tzinfo=None)


@router.post("/{screening_id}/reviews", status_code=201, response_model=ReviewOut, responses=ERRORS)
def review(
    screening_id: str, body: ReviewCreate, state: StateDep, session: SessionDep, principal: ReviewerDep
) -> ReviewOut:
    """Confirm or correct a screening; the original record stays unchanged."""
    try:
        row = get_screening(session, screening_id)
    except NotFoundError:
        raise APIError(404, "not_found", f"no screening {screening_id!r}") from None
    tax = state.classifier.taxonomy
    cls = row.classification
    model_caps = [d["id"] for d in cls["capabilities"]]
    model_risks = [d["id"] for d in cls["risk_factors"]]
    if body.verdict == "confirm":
        if any(v is not None for v in (body.capabilities, body.risk_factors, body.tier, body.action)):
            raise APIError(422, "invalid_review", "a 'confirm' review takes no corrected values; use verdict 'correct'")
        caps, risks, tier, action = model_caps, model_risks, row.tier, row.action
    else:
        caps = body.capabilities if body.capabilities is not None else model_caps
        risks = body.risk_factors if body.risk_factors is not None else model_risks
        tier, action = body.tier or row.tier, body.action or row.action
    try:
        tax.check_ids(caps, "capability")
        tax.check_ids(risks, "risk_factor")
    except TaxonomyError as exc:
        raise APIError(422, "invalid_review", str(exc)) from exc
    evidence = _review_evidence(body, row, set(caps) | set(risks), set(model_caps) | set(model_risks))
    floor = tax.minimum_tier([*caps, *risks])
    if Tier.parse(tier) < floor.tier:
        raise APIError(
            422,
            "invalid_review",
            f"tier {tier} is below {floor.tier.id}, the minimum for the labels given ({'; '.join(floor.reasons)})",
        )
    Action.parse(action)
    rev = add_review(
        session,
        screening_id=row.id,
        reviewer_key_id=principal.key_id,
        reviewer_name=principal.name,
        verdict=body.verdict,
        capabilities=list(caps),
        risk_factors=list(risks),
        tier=tier,
        action=action,
        evidence=evidence,
        comment=body.comment,
    )
    return review_out(rev)


def _review_evidence(body: ReviewCreate, row: Screening, labels: set[str], cited: set[str]) -> list[dict[str, Any]]:
    """Resolve the reviewer's spans (offsets or quotes); every label the model did not cite needs one."""
    out = []
    for ev in body.evidence:
        if ev.label not in labels:
            raise APIError(422, "invalid_review", f"evidence given for {ev.label}, which the review does not assert")
        if ev.quote is not None:
            span = find_quote(row.text, ev.quote)
            if span is None:
                raise APIError(
                    422,
                    "invalid_review",
                    f"the quote for {ev.label} is not in the document text; copy it from the extracted text",
                )
            out.append({"label": ev.label, "start": span.start, "end": span.end})
        elif ev.start is not None and ev.end is not None and ev.start < ev.end <= len(row.text):
            out.append({"label": ev.label, "start": ev.start, "end": ev.end})
        else:
            raise APIError(422, "invalid_review", f"evidence for {ev.label} needs a quote or valid start/end offsets")
    missing = sorted(labels - cited - {e["label"] for e in out})
    if missing:
        raise APIError(422, "invalid_review", f"add evidence (a quote from the text) for: {', '.join(missing)}")
    return out
