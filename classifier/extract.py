"""Bytes of an uploaded document → normalised plain text, with limits and clear errors.

PDF, DOCX and HTML parsing runs in a separate process with a wall-clock limit and a memory
limit, a few at a time, so a hostile file cannot hang or exhaust the caller; plain text is
decoded in-process. Text is capped while it is read (per PDF page, per ZIP member, per HTML
node), so normalisation never sees more than a bounded amount.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import multiprocessing as mp
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from classifier import budget
from classifier.confusables import fold
from classifier.language import english_warning
from classifier.sniff import BY_SUFFIX as _BY_SUFFIX
from classifier.sniff import (
    DOCX,
    HTML,
    MARKDOWN,
    PDF,
    SUPPORTED_MEDIA_TYPES,  # noqa: F401  (re-exported)
    TEXT,
    UnsupportedContent,
    looks_binary,
    sniff,
)
from classifier.text import normalise

SUPPORTED_SUFFIXES = tuple(_BY_SUFFIX)
HIDDEN_CONTENT = "hidden_content_dropped"


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
    """Every bound on reading one document; the service fills it from its settings."""

    max_bytes: int = 20 * 1024 * 1024
    max_pages: int = 300
    max_chars: int = 400_000
    timeout_s: float = 30.0
    memory_mb: int = 1024  # address-space limit of the parsing child (RLIMIT_AS)
    max_parallel_parses: int = 2  # parsing children alive at once in this process
    max_zip_entries: int = 2000
    max_zip_member_bytes: int = 64 * 1024 * 1024  # inflated size of one DOCX member
    max_zip_total_bytes: int = 256 * 1024 * 1024  # inflated size of all DOCX members together

    @property
    def read_chars(self) -> int:
        """Raw characters read before normalising: normalising shrinks text, so read twice what is kept."""
        return 2 * self.max_chars


@dataclass
class RawText:
    """What a reader returns: raw text (already capped), page count and warnings."""

    text: str
    pages: int | None = None
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False
    page_starts: list[int] | None = None  # PDFs: offset in `text` where each page begins


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
    # PDFs: offset in `text` where each page read begins (page 1 at 0), so evidence can cite its page.
    page_starts: list[int] | None = None

    def page_of(self, offset: int) -> int | None:
        """The 1-based page an offset of `text` lies on; None for documents without pages."""
        return page_at(self.page_starts, offset)


def page_at(page_starts: list[int] | None, offset: int) -> int | None:
    """The 1-based page holding `offset`, given where each page starts; None without page offsets."""
    if not page_starts:
        return None
    return max(1, bisect.bisect_right(page_starts, offset))


def detect_media_type(
    data: bytes, filename: str | None = None, declared: str | None = None, limits: Limits | None = None
) -> str:
    """Trust the bytes first; the name and declared type only choose between HTML and plain text."""
    try:
        return sniff(data, filename, declared, max_zip_entries=(limits or Limits()).max_zip_entries)
    except UnsupportedContent as exc:
        raise ExtractionError("unsupported_media_type", str(exc)) from None


def _looks_binary(data: bytes) -> bool:
    return looks_binary(data)


def decode_text(data: bytes) -> str:
    """Decode text files written by real editors: UTF-8 (with or without BOM), UTF-16, cp1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


class _Collector:
    """Accumulates text pieces up to a character budget, remembering that it cut."""

    def __init__(self, budget_chars: int) -> None:
        self.parts: list[str] = []
        self.left = budget_chars
        self.truncated = False

    def add(self, piece: str) -> bool:
        """Add a piece; False once the budget is spent (callers stop reading)."""
        if self.left <= 0:
            self.truncated = self.truncated or bool(piece)
            return False
        if len(piece) > self.left:
            piece = piece[: self.left]
            self.truncated = True
        self.parts.append(piece)
        self.left -= len(piece)
        return self.left > 0

    def text(self, sep: str = "") -> str:
        return sep.join(self.parts)

    @property
    def size(self) -> int:
        return sum(map(len, self.parts))


def _pdf_text(data: bytes, limits: Limits) -> RawText:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError("encrypted_document", "the PDF is password-protected; upload an unlocked copy")
        n = len(reader.pages)
        if n > limits.max_pages:
            raise ExtractionError(
                "too_many_pages",
                f"the PDF has {n} pages, more than the limit of {limits.max_pages}; split it or raise the limit",
            )
        out = _Collector(limits.read_chars)
        starts: list[int] = []
        for page in reader.pages:
            # Each page's text is cut to what is still wanted before the next page is read.
            starts.append(out.size)
            if not out.add(((page.extract_text() or "").strip()) + "\n\n"):
                break
    except ExtractionError:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise ExtractionError(
            "unreadable_document", f"the PDF could not be read ({type(exc).__name__}); is it damaged?"
        ) from exc
    return RawText(out.text(), n, truncated=out.truncated, page_starts=starts)


def check_zip(data: bytes, limits: Limits) -> None:
    """Refuse a ZIP whose directory declares too many members or too much inflated data.

    Python's zipfile never inflates a member beyond the size its directory entry declares,
    so checking the declared sizes bounds what any later reader can inflate.
    """
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise ExtractionError("unreadable_document", "the DOCX could not be read (damaged ZIP package)") from exc
    if len(infos) > limits.max_zip_entries:
        raise ExtractionError(
            "document_too_complex",
            f"the DOCX holds {len(infos):,} parts, more than the limit of {limits.max_zip_entries:,}",
        )
    total = 0
    for info in infos:
        if info.file_size > limits.max_zip_member_bytes:
            raise ExtractionError(
                "document_too_complex",
                f"the DOCX part {info.filename[:80]!r} inflates to {info.file_size:,} bytes, over the limit of "
                f"{limits.max_zip_member_bytes:,} (max_zip_member_bytes); is it a ZIP bomb?",
            )
        total += info.file_size
    if total > limits.max_zip_total_bytes:
        raise ExtractionError(
            "document_too_complex",
            f"the DOCX inflates to {total:,} bytes in all, over the limit of {limits.max_zip_total_bytes:,} "
            "(max_zip_total_bytes)",
        )


def _docx_text(data: bytes, limits: Limits) -> RawText:
    check_zip(data, limits)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many types for broken packages
        raise ExtractionError(
            "unreadable_document", f"the DOCX could not be read ({type(exc).__name__}); is it damaged?"
        ) from exc
    out = _Collector(limits.read_chars)

    def lines() -> object:
        for section in document.sections:
            yield from (p.text for p in section.header.paragraphs if p.text.strip())
        for block in document.iter_inner_content():
            if isinstance(block, Paragraph):
                yield block.text
            elif isinstance(block, Table):
                for row in block.rows:
                    cells: list[str] = []
                    for cell in row.cells:
                        value = cell.text.strip()
                        if value and (not cells or cells[-1] != value):  # merged cells repeat
                            cells.append(value)
                    yield " | ".join(cells)

    for line in lines():  # type: ignore[attr-defined]
        if not out.add(line + "\n"):
            break
    return RawText(out.text(), truncated=out.truncated)


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


def _html_text(data: bytes, limits: Limits) -> RawText:
    import lxml.html
    from lxml import etree

    # huge_tree lifts libxml2's depth (256) and attribute-size limits that otherwise drop text
    # silently; what is still dropped (deeper than 2048) is reported, not ignored.
    parser = lxml.html.HTMLParser(huge_tree=True, no_network=True, remove_comments=True, remove_pis=True)
    try:
        root = lxml.html.document_fromstring(_html_decode(data), parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise ExtractionError("unreadable_document", "the HTML page could not be parsed") from exc
    warnings = []
    if any(e.type_name == "ERR_RESOURCE_LIMIT" or "XML_PARSE_HUGE" in e.message for e in parser.error_log):
        warnings.append(
            f"{HIDDEN_CONTENT}: the HTML parser dropped content beyond its nesting or size limits; part of the "
            "page was not read; review the original page"
        )
    for bad in root.xpath("//script|//style|//noscript|//template|//svg|//head"):
        bad.drop_tree()
    out = _Collector(limits.read_chars)

    def flow(s: str, pre: bool) -> str:
        # Outside <pre>, HTML treats any run of whitespace as one space.
        return s if pre else re.sub(r"\s+", " ", s)

    # Depth-first walk with an explicit stack: pages nest deeper than Python's recursion limit.
    stack: list[tuple[etree._Element, bool, bool, bool]] = [(root, False, False, False)]  # el, pre, closing, tail
    while stack:
        el, pre, closing, with_tail = stack.pop()
        tag = el.tag if isinstance(el.tag, str) else ""
        if closing:
            if tag in _BLOCK_TAGS and not out.add("\n"):
                break
            if with_tail and el.tail and not out.add(flow(el.tail, pre)):
                break
            continue
        inner = pre or tag == "pre"
        if tag in _BLOCK_TAGS and not out.add("\n"):
            break
        if tag in {"td", "th"} and not out.add(" | "):
            break
        if el.text and isinstance(el.tag, str) and not out.add(flow(el.text, inner)):
            break
        stack.append((el, pre, True, el is not root))
        stack.extend((child, inner, False, False) for child in reversed(el))
    text = re.sub(r"(?m)^[ \t]*\|\s*", "", out.text())
    return RawText(text, warnings=warnings, truncated=out.truncated)


def _plain_text(data: bytes, limits: Limits) -> RawText:
    text = decode_text(data)
    truncated = len(text) > limits.read_chars
    return RawText(text[: limits.read_chars], truncated=truncated)


def _extract_in_process(data: bytes, media_type: str, limits: Limits) -> RawText:
    if media_type == PDF:
        return _pdf_text(data, limits)
    if media_type == DOCX:
        return _docx_text(data, limits)
    if media_type == HTML:
        return _html_text(data, limits)
    return _plain_text(data, limits)


def _limit_memory(memory_mb: int) -> None:
    """Cap the child's address space, so a bomb fails with MemoryError instead of swapping the host."""
    try:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # pragma: no cover - not on POSIX, or a lower hard limit
        pass


def _worker(conn: mp.connection.Connection, data: bytes, media_type: str, limits: Limits) -> None:
    try:
        _limit_memory(limits.memory_mb)
        conn.send(("ok", _extract_in_process(data, media_type, limits)))
    except ExtractionError as exc:
        conn.send(("error", (exc.code, exc.message)))
    except BaseException as exc:  # report instead of dying silently
        log = str(getattr(exc, "error_log", "")) + str(exc)
        if isinstance(exc, MemoryError) or "NO_MEMORY" in log or "memory" in log.lower():  # libxml2's malloc failures
            message = (
                f"reading the document needed more than the {limits.memory_mb:,} MB memory limit "
                "(extraction_memory_mb); simplify or split the file"
            )
            conn.send(("error", ("document_too_complex", message)))
        else:
            conn.send(("error", ("unreadable_document", f"the document could not be read ({type(exc).__name__})")))
    finally:
        conn.close()


_CONTEXT: mp.context.ForkServerContext | None = None
_SLOTS_LOCK = threading.Lock()
_SLOTS: tuple[int, threading.BoundedSemaphore] | None = None


def _context() -> mp.context.ForkServerContext:
    """A forkserver context: children start from a clean process, never from a threaded server."""
    global _CONTEXT
    if _CONTEXT is None:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["classifier.extract"])
        _CONTEXT = ctx
    return _CONTEXT


def _slots(n: int) -> threading.BoundedSemaphore:
    """The process-wide cap on parsing children (rebuilt only if the configured number changes)."""
    global _SLOTS
    with _SLOTS_LOCK:
        if _SLOTS is None or _SLOTS[0] != n:
            _SLOTS = (n, threading.BoundedSemaphore(n))
        return _SLOTS[1]


def _extract_with_timeout(data: bytes, media_type: str, limits: Limits) -> RawText:
    slots = _slots(limits.max_parallel_parses)
    if not slots.acquire(timeout=budget.wait_limit(limits.timeout_s)):
        budget.check()
        raise ExtractionError(
            "parser_busy",
            f"all {limits.max_parallel_parses} document readers are busy (max_parallel_parses); retry in a few seconds",
        )
    try:
        return _run_child(data, media_type, limits)
    finally:
        slots.release()


def _run_child(data: bytes, media_type: str, limits: Limits) -> RawText:
    ctx = _context()
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(send, data, media_type, limits), daemon=True)
    proc.start()
    send.close()
    end = time.monotonic() + limits.timeout_s
    try:
        while True:
            budget.check()  # the request's deadline or a gone client stop the child too
            left = end - time.monotonic()
            if left <= 0:
                raise ExtractionError(
                    "extraction_timeout",
                    f"reading the document took longer than the {limits.timeout_s:g} s limit; "
                    "simplify or split the file",
                )
            if recv.poll(min(0.1, left)):
                break
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

    `isolate=False` parses in-process (no time or memory limit); only for trusted files.
    """
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise ExtractionError(
            "file_too_large",
            f"the file is {len(data):,} bytes, over the upload limit of {limits.max_bytes:,} bytes",
        )
    if not data.strip():
        raise ExtractionError("empty_document", "the document is empty: no text was found")
    media_type = detect_media_type(data, filename, declared_type, limits)
    budget.check()
    if media_type in (TEXT, MARKDOWN) or not isolate:
        raw = _extract_in_process(data, media_type, limits)
    else:
        raw = _extract_with_timeout(data, media_type, limits)
    return finish_text(
        raw.text,
        media_type=media_type,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        pages=raw.pages,
        limits=limits,
        read_warnings=raw.warnings,
        read_truncated=raw.truncated,
        raw_page_starts=raw.page_starts,
    )


def extract_text(text: str, limits: Limits | None = None) -> Extracted:
    """The same pipeline for text that arrives as a string (API JSON, stdin)."""
    data = text.encode("utf-8", errors="replace")
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise ExtractionError(
            "file_too_large", f"the text is {len(data):,} bytes, over the limit of {limits.max_bytes:,} bytes"
        )
    return finish_text(
        text[: limits.read_chars],
        media_type=TEXT,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        pages=None,
        limits=limits,
        read_truncated=len(text) > limits.read_chars,
    )


def finish_text(
    raw: str,
    *,
    media_type: str,
    sha256: str,
    size_bytes: int,
    pages: int | None,
    limits: Limits,
    read_warnings: list[str] | None = None,
    read_truncated: bool = False,
    raw_page_starts: list[int] | None = None,
) -> Extracted:
    """Normalise, fold look-alike letters, refuse documents without words, truncate with a warning.

    The raw text is cut to `limits.read_chars` before normalising, so the cost of this step is
    bounded whatever the reader returned.
    """
    if len(raw) > limits.read_chars:
        raw, read_truncated = raw[: limits.read_chars], True
    normalised = normalise(raw)
    text = normalised.text
    if not re.search(r"\w{2,}", text):
        hint = " (it may be scanned images; run OCR first)" if media_type == PDF else ""
        raise ExtractionError("no_text_found", f"no text was found in the document{hint}")
    warnings: list[str] = list(read_warnings or [])
    flags: list[str] = []
    truncated = read_truncated
    if len(text) > limits.max_chars:
        text = text[: limits.max_chars]
        truncated = True
    if truncated:
        flags.append("truncated")
        warnings.append(
            f"text truncated to the first {limits.max_chars:,} characters (limit max_chars); the rest was not read"
        )
    folded = fold(text)
    if folded.warning:
        text = folded.text
        warnings.append(folded.warning)
    lang = english_warning(text)
    if lang:
        flags.append("not_english")
        warnings.append(lang)
    # Readers and folding prefix their warnings with a review code ("hidden_content_dropped: ...").
    flags += [
        code
        for code in ("hidden_content_dropped", "confusable_letters_folded")
        if any(w.startswith(f"{code}:") for w in warnings)
    ]
    return Extracted(
        text=text,
        media_type=media_type,
        sha256=sha256,
        size_bytes=size_bytes,
        pages=pages,
        warnings=warnings,
        truncated=truncated,
        flags=flags,
        page_starts=_normalised_starts(raw_page_starts, normalised.source_index, len(text)),
    )


def _normalised_starts(raw_starts: list[int] | None, source_index: tuple[int, ...], length: int) -> list[int] | None:
    """Page starts in the raw text → the same places in the normalised text (folding keeps lengths).

    A page that starts at or past the end of the kept text (cut off, or empty at the end) still
    gets an entry at `length`, so page numbers of the pages before it stay right.
    """
    if raw_starts is None:
        return None
    return [min(bisect.bisect_left(source_index, r), length) for r in raw_starts]


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
