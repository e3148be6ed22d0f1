"""Read a document from a JSON body or a multipart upload, enforcing the size limit early."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from serving.errors import APIError
from serving.security import clean_filename

MAX_JSON_DEPTH = 32  # the API's bodies nest 4 deep; deeper is an attack on the parser


@dataclass
class DocumentInput:
    """One submitted document: uploaded bytes or pasted text, plus its name."""

    data: bytes | None = None
    text: str | None = None
    filename: str | None = None
    declared_type: str | None = None
    title: str | None = None

    @property
    def source(self) -> str:
        return self.filename or self.title or "-"


@dataclass
class ParsedRequest:
    documents: list[DocumentInput] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    json_body: object | None = None


def _too_large(limit: int, what: str = "the request") -> APIError:
    return APIError(413, "file_too_large", f"{what} is over the upload limit of {limit:,} bytes (max_upload_bytes)")


def json_depth(value: object, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of parsed JSON, walked without recursion; stops counting past `limit`."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def load_json(body: bytes) -> object:
    """Parse a JSON body; every way it can fail is a 422 that says why."""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(422, "invalid_json", f"the body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise APIError(422, "invalid_json", f"the JSON is nested too deeply (limit {MAX_JSON_DEPTH})") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise APIError(422, "invalid_json", f"the JSON holds a value out of range: {str(exc)[:120]}") from None
    if json_depth(payload) > MAX_JSON_DEPTH:
        raise APIError(422, "invalid_json", f"the JSON is nested too deeply (limit {MAX_JSON_DEPTH})")
    return payload


async def parse_request(
    request: Request, max_bytes: int, max_files: int, file_fields: tuple[str, ...], max_fields: int = 16
) -> ParsedRequest:
    """JSON bodies are returned as parsed JSON; multipart bodies as files + text fields."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    length = request.headers.get("content-length")
    # a multipart body carries some framing around the file, hence the allowance
    if length and length.isdigit() and int(length) > max_bytes * max_files + 64 * 1024:
        raise _too_large(max_bytes)
    if ctype == "application/json":
        body = await request.body()
        if len(body) > max_bytes * max_files + 64 * 1024:
            raise _too_large(max_bytes)
        return ParsedRequest(json_body=load_json(body))
    if ctype == "multipart/form-data":
        form = await request.form(max_files=max_files, max_fields=max_fields, max_part_size=max_bytes)
        parsed = ParsedRequest()
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key not in file_fields:
                    raise APIError(422, "invalid_request", f"unexpected file field {key!r}; use {file_fields[0]!r}")
                if value.size is not None and value.size > max_bytes:
                    raise _too_large(max_bytes, f"the file {value.filename!r}")
                data = await value.read(max_bytes + 1)
                if len(data) > max_bytes:
                    raise _too_large(max_bytes, f"the file {value.filename!r}")
                parsed.documents.append(
                    DocumentInput(
                        data=data,
                        filename=clean_filename(value.filename) or "upload",
                        declared_type=(value.content_type or "")[:100] or None,
                    )
                )
            else:
                parsed.fields[key] = str(value)
        return parsed
    raise APIError(
        415, "unsupported_media_type", "send application/json or multipart/form-data (a file in the 'file' field)"
    )


def validate_json(model: type[BaseModel], payload: object) -> BaseModel:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise APIError(422, "invalid_request", f"{where}: {first['msg']}") from exc
