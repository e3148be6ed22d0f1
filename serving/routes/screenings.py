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

from classifier import budget
from classifier.results import ClassificationResult
from serving.auth import Principal
from serving.db import session_scope
from serving.decisions import decision_in_force, review_status
from serving.deps import AppState, ReviewerDep, ScreenerDep, SessionDep, StateDep, write_session
from serving.errors import APIError
from serving.inputs import DocumentInput, ParsedRequest, parse_request, validate_json
from serving.reviewing import label_names, load_screening, record_review
from serving.schemas import (
    ActionId,
    EndUserType,
    ErrorBody,
    ReviewCreate,
    ReviewOut,
    ScreeningCreate,
    ScreeningOut,
    ScreeningPage,
    TierId,
)
from serving.security import clean_filename, csv_safe
from serving.service import classify_many, review_out, screening_out, screening_summary
from serving.store import ScreeningFilter, active_claims, create_screening, list_screenings, records_of, reviews_of

router = APIRouter(prefix="/v1/screenings", tags=["screenings"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404, 409, 413, 415, 422, 503)}
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
                        "control_list_entry": {"type": "string", "example": "5A001.j / EU Annex I"},
                        "licence_reference": {"type": "string"},
                        "party_screening": {"type": "string", "enum": ["done", "hit", "not_done"]},
                        "party_screening_by": {"type": "string"},
                    },
                }
            },
        },
        "required": True,
    }
}


async def _parse(request: Request, state: StateDep) -> ParsedRequest:
    return await parse_request(
        request, state.settings.max_upload_bytes, 1, ("file",), max_fields=state.settings.max_form_fields
    )


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
    if body.party_screening is None and body.party_screening_by:
        raise APIError(422, "invalid_request", "party_screening_by needs party_screening (done, hit or not_done)")
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
    budget.check()  # past the deadline or with the client gone: store nothing
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
            filename=clean_filename(doc.filename or body.title),
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
            review_required=result.review_required,
            control_list_entry=body.control_list_entry,
            licence_reference=body.licence_reference,
            party_screening=body.party_screening,
            party_screening_by=body.party_screening_by if body.party_screening else None,
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


def screening_filter(
    principal: ScreenerDep,
    action: Annotated[ActionId | None, Query(description="Action of the decision in force.")] = None,
    tier: Annotated[TierId | None, Query(description="Tier of the decision in force.")] = None,
    reference: Annotated[str | None, Query(max_length=200, description="Exact reference.")] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Free text, partial: reference, document, end-user name, destination, id."),
    ] = None,
    end_user_type: EndUserType | None = None,
    reviewed: Annotated[bool | None, Query(description="Reviewed by a person (true) or not yet (false).")] = None,
    review_required: Annotated[bool | None, Query(description="The model flagged the reading as unreliable.")] = None,
    created_from: Annotated[datetime | None, Query(description="Inclusive lower bound (ISO 8601, UTC).")] = None,
    created_to: Annotated[datetime | None, Query(description="Exclusive upper bound (ISO 8601, UTC).")] = None,
    mine: Annotated[bool, Query(description="Only my screenings (always true for screeners).")] = False,
) -> ScreeningFilter:
    """One set of filters for the list and the CSV export, so both always select the same rows."""
    own = mine or not principal.can("reviewer")
    return ScreeningFilter(
        action=action,
        tier=tier,
        reference=reference,
        created_from=_naive(created_from),
        created_to=_naive(created_to),
        created_by_key_id=principal.key_id if own else None,
        q=q,
        end_user_type=end_user_type,
        reviewed=reviewed,
        review_required=review_required,
    )


FilterDep = Annotated[ScreeningFilter, Depends(screening_filter)]
CSV_COLUMNS = (
    "id",
    "created_at_utc",
    "created_by",
    "reference",
    "document",
    "destination",
    "destination_group",
    "end_user_type",
    "end_user_name",
    "action_in_force",
    "tier_in_force",
    "decision_source",
    "decided_by",
    "decided_at_utc",
    "review_status",
    "review_required",
    "review_reasons",
    "capabilities_in_force",
    "risk_factors_in_force",
    "reviewer_comment",
    "model_action",
    "model_tier",
    "model_decision_superseded",
    "control_list_entry",
    "licence_reference",
    "party_screening",
    "party_screening_by",
    "policy_version",
    "model_version",
    "document_sha256",
)


@router.get("/export.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_csv(session: SessionDep, flt: FilterDep) -> Response:
    """The screenings you may see, as CSV for the compliance file (same filters as the list), decision in force
    first."""
    rows, _ = list_screenings(session, flt, offset=0, limit=100_000)
    records = records_of(session, [s.id for s in rows])
    claims = active_claims(session, [s.id for s in rows])
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(CSV_COLUMNS)
    for s in rows:
        recs = records[s.id]
        f = decision_in_force(s, recs)
        out.writerow(
            csv_safe(cell)
            for cell in [
                s.id,
                s.created_at.isoformat(timespec="seconds"),
                s.created_by_name,
                s.reference or "",
                s.filename or "",
                s.destination,
                s.destination_group,
                s.end_user_type,
                s.end_user_name or "",
                f.action,
                f.tier,
                f.source,
                f.decided_by_name or "",
                f.decided_at.isoformat(timespec="seconds"),
                review_status(recs, s.id in claims),
                "yes" if f.review_required else "no",
                ";".join(r["code"] for r in f.review_reasons),
                ";".join(f.capabilities),
                ";".join(f.risk_factors),
                f.comment or "",
                s.action,
                s.tier,
                "yes" if recs else "no",
                s.control_list_entry or "",
                s.licence_reference or "",
                s.party_screening or "",
                s.party_screening_by or "",
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


@router.get("/{screening_id}", response_model=ScreeningOut, responses=ERRORS)
def read(screening_id: str, session: SessionDep, principal: ScreenerDep) -> ScreeningOut:
    """One screening: the decision in force, the original model decision and every decision record."""
    row = load_screening(session, screening_id, principal)  # a colleague's id answers like a missing one
    claim = active_claims(session, [row.id]).get(row.id)
    return screening_out(row, reviews_of(session, screening_id), claim=claim)


@router.get("/{screening_id}/report", response_class=HTMLResponse, responses=ERRORS)
def report(
    screening_id: str, request: Request, state: StateDep, session: SessionDep, principal: ScreenerDep
) -> HTMLResponse:
    """A printable HTML report of one screening for the compliance file (print it to PDF)."""
    from serving.web import templates

    s = read(screening_id, session, principal)
    names = label_names(state.classifier.taxonomy)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    return templates.TemplateResponse(request, "report.html", {"s": s, "names": names, "generated": generated})


@router.get("", response_model=ScreeningPage, responses=ERRORS)
def list_(
    session: SessionDep,
    flt: FilterDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ScreeningPage:
    """Screenings, newest first, with the decision in force; screeners see their own, reviewers everyone's."""
    rows, total = list_screenings(session, flt, offset=(page - 1) * page_size, limit=page_size)
    records = records_of(session, [s.id for s in rows])
    claims = active_claims(session, [s.id for s in rows])
    return ScreeningPage(
        items=[screening_summary(s, records[s.id], s.id in claims) for s in rows],
        total=total,
        page=page,
        page_size=page_size,
    )


def _naive(dt: datetime | None) -> datetime | None:
    if dt is None or dt.tzinfo is None:
        return dt
    return dt.astimezone(UTC).replace(tzinfo=None)


@router.post("/{screening_id}/reviews", status_code=201, response_model=ReviewOut, responses=ERRORS)
def review(
    screening_id: str, body: ReviewCreate, state: StateDep, session: SessionDep, principal: ReviewerDep
) -> ReviewOut:
    """Confirm or correct the decision in force; a new decision record is appended, nothing is changed.

    The whole review runs in one short write transaction, so the decision in force it builds on cannot
    change under it; quotes are length-capped, which bounds the quote search inside it."""
    with write_session(state) as ws:
        rev, ch, message = record_review(ws, state.settings, state.classifier.taxonomy, principal, screening_id, body)
        return review_out(rev, ch, message)
