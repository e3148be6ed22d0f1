"""Every error leaves the service as JSON `{code, message}` with a fitting status; no stack traces."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from classifier.budget import BudgetExceeded
from classifier.extract import ExtractionError
from classifier.policy import PolicyError
from serving.store import ChainConflictError

log = logging.getLogger("surveilrisk.api")

EXTRACTION_STATUS = {
    "file_too_large": 413,
    "too_many_pages": 413,
    "document_too_complex": 413,
    "unsupported_media_type": 415,
    "parser_busy": 503,
    "batch_budget_exceeded": 503,
}  # every other extraction problem is 422: the file arrived but holds no usable text
RETRY_AFTER_S = 5  # what a 503 from a busy reader or a chain conflict suggests

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    408: "request_timeout",
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
    status = EXTRACTION_STATUS.get(exc.code, 422)
    return APIError(status, exc.code, exc.message, {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None)


def budget_status(exc: BudgetExceeded) -> int:
    # 499 (client closed request) is never seen by the client; it keeps logs and metrics honest.
    return 504 if exc.code == "deadline_exceeded" else 499


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api(request: Request, exc: APIError) -> JSONResponse:
        _count(request, exc.code)
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers)

    @app.exception_handler(ExtractionError)
    async def _extract(request: Request, exc: ExtractionError) -> JSONResponse:
        err = extraction_error(exc)
        _count(request, err.code)
        return error_response(err.status, err.code, err.message, headers=err.headers)

    @app.exception_handler(BudgetExceeded)
    async def _budget(request: Request, exc: BudgetExceeded) -> JSONResponse:
        _count(request, exc.code)
        if exc.code == "client_disconnected":
            log.info("client left; stopped %s %s", request.method, request.url.path)
        return error_response(budget_status(exc), exc.code, exc.message)

    @app.exception_handler(ChainConflictError)
    async def _conflict(request: Request, exc: ChainConflictError) -> JSONResponse:
        _count(request, "chain_conflict")
        return error_response(409, "chain_conflict", str(exc), headers={"Retry-After": "1"})

    @app.exception_handler(OperationalError)
    async def _db_busy(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc.orig)
        _count(request, "database_unavailable")
        return error_response(
            503,
            "database_unavailable",
            "the database is busy or unreachable; retry shortly",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    @app.exception_handler(RecursionError)
    async def _deep(request: Request, exc: RecursionError) -> JSONResponse:
        _count(request, "invalid_request")
        return error_response(422, "invalid_request", "the request is nested too deeply; flatten it")

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        _count(request, "invalid_request")
        return error_response(422, "invalid_request", "a number in the request is out of range")

    @app.exception_handler(PolicyError)
    async def _policy(request: Request, exc: PolicyError) -> JSONResponse:
        _count(request, "invalid_screening_input")
        return error_response(422, "invalid_screening_input", str(exc))

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
