"""Classification without storage: one document or a batch."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from classifier.results import ClassificationResult
from serving.deps import ScreenerDep, StateDep
from serving.errors import APIError
from serving.inputs import DocumentInput, ParsedRequest, parse_request, validate_json
from serving.schemas import BatchItemResult, BatchResponse, BatchText, ClassifyText, ErrorBody
from serving.service import classify_many

router = APIRouter(prefix="/v1", tags=["classification"])

UPLOAD_DOC = {
    "requestBody": {
        "content": {
            "application/json": {"schema": ClassifyText.model_json_schema(), "example": {"text": "…", "title": "x"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}, "text": {"type": "string"}},
                }
            },
        },
        "required": True,
    }
}
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 413, 415, 422, 503)}


async def _single(request: Request, state: StateDep) -> ParsedRequest:
    return await parse_request(
        request, state.settings.max_upload_bytes, 1, ("file",), max_fields=state.settings.max_form_fields
    )


async def _batch(request: Request, state: StateDep) -> ParsedRequest:
    n = state.settings.batch_max_items
    return await parse_request(
        request, state.settings.max_upload_bytes, n, ("file", "files"), max_fields=state.settings.max_form_fields
    )


class ClassificationWithText(ClassificationResult):
    text: str | None = None


@router.post(
    "/classify",
    response_model=ClassificationWithText,
    response_model_exclude_none=True,
    responses=ERRORS,
    openapi_extra=UPLOAD_DOC,
)
async def classify(
    state: StateDep,
    _: ScreenerDep,
    parsed: Annotated[ParsedRequest, Depends(_single)],
    include_text: Annotated[bool, Query(description="Also return the extracted text the offsets refer to.")] = False,
) -> ClassificationWithText:
    """Classify one document (JSON text or a multipart `file` upload)."""
    if parsed.json_body is not None:
        body = validate_json(ClassifyText, parsed.json_body)
        doc = DocumentInput(text=body.text, title=body.title)  # type: ignore[attr-defined]
    elif parsed.documents:
        doc = parsed.documents[0]
    elif parsed.fields.get("text"):
        doc = DocumentInput(text=parsed.fields["text"], title=parsed.fields.get("title"))
    else:
        raise APIError(422, "missing_document", "send JSON {text} or a multipart upload in the 'file' field")
    with state.inference.admit():
        ((extracted, result, status),) = await run_in_threadpool(classify_many, state, [doc])
    if isinstance(result, ErrorBody) or extracted is None:
        raise APIError(status, result.code, result.message)  # type: ignore[union-attr]
    return ClassificationWithText(**result.model_dump(), text=extracted.text if include_text else None)


@router.post("/classify/batch", response_model=BatchResponse, responses=ERRORS)
async def classify_batch(
    state: StateDep, _: ScreenerDep, parsed: Annotated[ParsedRequest, Depends(_batch)]
) -> BatchResponse:
    """Classify several documents: JSON {items: [{text, title}]} or several multipart `files`."""
    if parsed.json_body is not None:
        body = validate_json(BatchText, parsed.json_body)
        docs = [DocumentInput(text=i.text, title=i.title) for i in body.items]  # type: ignore[attr-defined]
    else:
        docs = parsed.documents
    if not docs:
        raise APIError(422, "missing_document", "send JSON {items: [...]} or files in the 'files' field")
    limit = state.settings.batch_max_items
    if len(docs) > limit:
        raise APIError(
            413, "batch_too_large", f"{len(docs)} documents is over the batch limit of {limit} (batch_max_items)"
        )
    with state.inference.admit():
        outcomes = await run_in_threadpool(classify_many, state, docs)
    results = []
    for i, (doc, (_extracted, res, _status)) in enumerate(zip(docs, outcomes, strict=True)):
        if isinstance(res, ErrorBody):
            results.append(BatchItemResult(index=i, source=doc.source, ok=False, error=res))
        else:
            results.append(BatchItemResult(index=i, source=doc.source, ok=True, result=res))
    return BatchResponse(results=results)
