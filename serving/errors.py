"""Every error leaves the service as JSON `{code, message}` with a fitting status; no stack traces."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from classifier.extract import ExtractionError
from classifier.policy import PolicyError

log = logging.getLogger("surveilrisk.api")

EXTRACTION_STATUS = {
    "file_too_large": 413,
    "too_many_pages": 413,
    "unsupported_media_type": 415,
}  # every other extraction problem is 422: the file arrived but holds no usable text

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "not_ready",
}


class APIError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, object]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, object] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def _count(request: Request, code: str) -> None:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(code).inc()


def extraction_error(exc: ExtractionError) -> APIError:
    return APIError(EXTRACTION_STATUS.get(exc.code, 422), exc.code, exc.message)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api(request: Request, exc: APIError) -> JSONResponse:
        _count(request, exc.code)
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers)

    @app.exception_handler(ExtractionError)
    async def _extract(request: Request, exc: ExtractionError) -> JSONResponse:
        err = extraction_error(exc)
        _count(request, err.code)
        return error_response(err.status, err.code, err.message)

    @app.exception_handler(PolicyError)
    async def _policy(request: Request, exc: PolicyError) -> JSONResponse:
        _count(request, "invalid_screening_input")
        return error_response(422, "invalid_screening_input", str(exc))

    from serving.store import ChainConflictError

    @app.exception_handler(ChainConflictError)
    async def _chain(request: Request, exc: ChainConflictError) -> JSONResponse:
        _count(request, "chain_conflict")
        return error_response(409, "chain_conflict", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        _count(request, "invalid_request")
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"  # type: ignore[union-attr]
        return error_response(422, "invalid_request", f"{where}: {first['msg']}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        _count(request, code)
        return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        _count(request, "internal_error")
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")
