"""Bytes of an uploaded document → normalised plain text, with limits and clear errors.

PDF, DOCX and HTML parsing runs in a separate process with a wall-clock limit, so a
hostile file cannot hang the caller; plain text is decoded in-process.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing as mp
import re
from dataclasses import dataclass, field
from pathlib import Path

from classifier.language import english_warning
from classifier.text import normalise

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HTML = "text/html"
TEXT = "text/plain"
MARKDOWN = "text/markdown"
SUPPORTED_MEDIA_TYPES = (PDF, DOCX, HTML, TEXT, MARKDOWN)
_BY_SUFFIX = {
    ".pdf": PDF,
    ".docx": DOCX,
    ".html": HTML,
    ".htm": HTML,
    ".xhtml": HTML,
    ".txt": TEXT,
    ".text": TEXT,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
}
SUPPORTED_SUFFIXES = tuple(_BY_SUFFIX)


class ExtractionError(Exception):
    """A document that cannot be turned into text; `code` is stable, `message` says what to fix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # survive the trip back from the worker process
        return (ExtractionError, (self.code, self.message))


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 20 * 1024 * 1024
    max_pages: int = 300
    max_chars: int = 400_000
    timeout_s: float = 30.0


@dataclass
class Extracted:
    """Normalised text of one document; evidence offsets always refer to `text`."""

    text: str
    media_type: str
    sha256: str
    size_bytes: int
    pages: int | None = None
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False
    flags: list[str] = field(default_factory=list)  # codes from classifier.review.REASONS


def detect_media_type(data: bytes, filename: str | None = None, declared: str | None = None) -> str:
    """Trust the bytes first, then the file name, then the declared type."""
    head = data[:2048].lstrip()
    if head.startswith(b"%PDF"):
        return PDF
    if data[:4] == b"PK\x03\x04":
        if b"word/" in data[:65536] or (filename or "").lower().endswith(".docx"):
            return DOCX
        raise ExtractionError(
            "unsupported_media_type", "this is a ZIP archive but not a Word .docx file; upload PDF, DOCX, HTML or text"
        )
    suffix = Path(filename or "").suffix.lower()
    if suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    base = (declared or "").split(";")[0].strip().lower()
    if base in SUPPORTED_MEDIA_TYPES:
        return base
    lowered = head[:512].lower()
    if lowered.startswith((b"<!doctype html", b"<html")) or b"<body" in lowered:
        return HTML
    if _looks_binary(data):
        what = f" ({base})" if base else ""
        raise ExtractionError(
            "unsupported_media_type",
            f"unsupported file type{what}: upload a PDF, DOCX, HTML, TXT or Markdown file",
        )
    return TEXT


def _looks_binary(data: bytes) -> bool:
    sample = data[:4096]
    if not sample:
        return False
    if sample.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return False
    control = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return b"\x00" in sample or control / len(sample) > 0.05


def decode_text(data: bytes) -> str:
    """Decode text files written by real editors: UTF-8 (with or without BOM), UTF-16, cp1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _pdf_text(data: bytes, max_pages: int) -> tuple[str, int]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError("encrypted_document", "the PDF is password-protected; upload an unlocked copy")
        n = len(reader.pages)
        if n > max_pages:
            raise ExtractionError(
                "too_many_pages",
                f"the PDF has {n} pages, more than the limit of {max_pages}; split it or raise the limit",
            )
        texts = [page.extract_text() or "" for page in reader.pages]
    except ExtractionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise ExtractionError(
            "unreadable_document", f"the PDF could not be read ({type(exc).__name__}); is it damaged?"
        ) from exc
    return "\n\n".join(t.strip() for t in texts), n


def _docx_text(data: bytes) -> str:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many types for broken packages
        raise ExtractionError(
            "unreadable_document", f"the DOCX could not be read ({type(exc).__name__}); is it damaged?"
        ) from exc
    lines: list[str] = []
    for section in document.sections:
        lines.extend(p.text for p in section.header.paragraphs if p.text.strip())
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            lines.append(block.text)
        elif isinstance(block, Table):
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    value = cell.text.strip()
                    if value and (not cells or cells[-1] != value):  # merged cells repeat
                        cells.append(value)
                lines.append(" | ".join(cells))
    return "\n".join(lines)


_BLOCK_TAGS = {
    "p",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "li",
    "ul",
    "ol",
    "table",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "br",
    "dd",
    "dt",
    "dl",
    "pre",
    "blockquote",
    "main",
    "aside",
    "nav",
    "figcaption",
    "form",
}


def _html_decode(data: bytes) -> str:
    """Honour a declared charset; otherwise UTF-8, as browsers assume for modern pages (lxml would guess Latin-1)."""
    declared = re.search(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", data[:4096], re.I)
    text = None
    if declared:
        try:
            text = data.decode(declared.group(1).decode("ascii"), errors="replace")
        except LookupError:
            text = None
    if text is None:
        text = decode_text(data)
    # lxml refuses str input that still carries an XML encoding declaration.
    return re.sub(r"^\s*<\?xml[^>]*\?>", "", text)


def _html_text(data: bytes) -> str:
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.document_fromstring(_html_decode(data))
    except (etree.ParserError, ValueError) as exc:
        raise ExtractionError("unreadable_document", "the HTML page could not be parsed") from exc
    for bad in root.xpath("//script|//style|//noscript|//template|//svg|//head"):
        bad.drop_tree()
    parts: list[str] = []

    def flow(s: str, pre: bool) -> str:
        # Outside <pre>, HTML treats any run of whitespace as one space.
        return s if pre else re.sub(r"\s+", " ", s)

    def walk(el: etree._Element, pre: bool = False) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        pre = pre or tag == "pre"
        block = tag in _BLOCK_TAGS
        if block:
            parts.append("\n")
        if tag in {"td", "th"}:
            parts.append(" | ")
        if el.text and isinstance(el.tag, str):
            parts.append(flow(el.text, pre))
        for child in el:
            walk(child, pre)
            if child.tail:
                parts.append(flow(child.tail, pre))
        if block:
            parts.append("\n")

    walk(root)
    text = "".join(parts)
    text = re.sub(r"(?m)^[ \t]*\|\s*", "", text)
    return text


def _extract_in_process(data: bytes, media_type: str, max_pages: int) -> tuple[str, int | None]:
    if media_type == PDF:
        return _pdf_text(data, max_pages)
    if media_type == DOCX:
        return _docx_text(data), None
    if media_type == HTML:
        return _html_text(data), None
    return decode_text(data), None


def _worker(conn: mp.connection.Connection, data: bytes, media_type: str, max_pages: int) -> None:
    try:
        conn.send(("ok", _extract_in_process(data, media_type, max_pages)))
    except ExtractionError as exc:
        conn.send(("error", (exc.code, exc.message)))
    except BaseException as exc:  # report instead of dying silently
        conn.send(("error", ("unreadable_document", f"the document could not be read ({type(exc).__name__})")))
    finally:
        conn.close()


_CONTEXT: mp.context.ForkServerContext | None = None


def _context() -> mp.context.ForkServerContext:
    """A forkserver context: children start from a clean process, never from a threaded server."""
    global _CONTEXT
    if _CONTEXT is None:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["classifier.extract"])
        _CONTEXT = ctx
    return _CONTEXT


def _extract_with_timeout(data: bytes, media_type: str, limits: Limits) -> tuple[str, int | None]:
    ctx = _context()
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(send, data, media_type, limits.max_pages), daemon=True)
    proc.start()
    send.close()
    try:
        if not recv.poll(limits.timeout_s):
            raise ExtractionError(
                "extraction_timeout",
                f"reading the document took longer than the {limits.timeout_s:g} s limit; simplify or split the file",
            )
        status, payload = recv.recv()
    except EOFError as exc:
        raise ExtractionError("unreadable_document", "the document reader crashed on this file") from exc
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(timeout=5)
        recv.close()
    if status == "error":
        raise ExtractionError(*payload)
    return payload  # type: ignore[no-any-return]


def extract_bytes(
    data: bytes,
    filename: str | None = None,
    declared_type: str | None = None,
    limits: Limits | None = None,
    isolate: bool = True,
) -> Extracted:
    """Extract and normalise the text of one document, enforcing every limit.

    `isolate=False` parses in-process (no time limit); only for trusted files.
    """
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise ExtractionError(
            "file_too_large",
            f"the file is {len(data):,} bytes, over the upload limit of {limits.max_bytes:,} bytes",
        )
    if not data.strip():
        raise ExtractionError("empty_document", "the document is empty: no text was found")
    media_type = detect_media_type(data, filename, declared_type)
    if media_type in (TEXT, MARKDOWN) or not isolate:
        raw, pages = _extract_in_process(data, media_type, limits.max_pages)
    else:
        raw, pages = _extract_with_timeout(data, media_type, limits)
    return finish_text(
        raw,
        media_type=media_type,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        pages=pages,
        limits=limits,
    )


def extract_text(text: str, limits: Limits | None = None) -> Extracted:
    """The same pipeline for text that arrives as a string (API JSON, stdin)."""
    data = text.encode("utf-8")
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise ExtractionError(
            "file_too_large", f"the text is {len(data):,} bytes, over the limit of {limits.max_bytes:,} bytes"
        )
    return finish_text(
        text, media_type=TEXT, sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data), pages=None, limits=limits
    )


def finish_text(
    raw: str, *, media_type: str, sha256: str, size_bytes: int, pages: int | None, limits: Limits
) -> Extracted:
    """Normalise, refuse documents without words, truncate over-long text with a warning."""
    text = normalise(raw).text
    if not re.search(r"\w{2,}", text):
        hint = " (it may be scanned images; run OCR first)" if media_type == PDF else ""
        raise ExtractionError("no_text_found", f"no text was found in the document{hint}")
    warnings: list[str] = []
    flags: list[str] = []
    truncated = False
    if len(text) > limits.max_chars:
        text = text[: limits.max_chars]
        truncated = True
        flags.append("truncated")
        warnings.append(
            f"text truncated to the first {limits.max_chars:,} characters (limit max_chars); the rest was not read"
        )
    lang = english_warning(text)
    if lang:
        flags.append("not_english")
        warnings.append(lang)
    return Extracted(
        text=text,
        media_type=media_type,
        sha256=sha256,
        size_bytes=size_bytes,
        pages=pages,
        warnings=warnings,
        truncated=truncated,
        flags=flags,
    )


def extract_path(path: Path | str, limits: Limits | None = None) -> Extracted:
    """Read a file from disk and extract it (the CLI's entry point)."""
    path = Path(path)
    limits = limits or Limits()
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise ExtractionError(
                "file_too_large", f"the file is {size:,} bytes, over the upload limit of {limits.max_bytes:,} bytes"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ExtractionError("unreadable_file", f"cannot read {path}: {exc.strerror or exc}") from exc
    return extract_bytes(data, filename=path.name, limits=limits)
