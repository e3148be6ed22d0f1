"""Decide what an upload is from its bytes before its name is believed.

A file named `.txt` that starts with `MZ` is a Windows program, not text: reading it as
text would classify noise (and cost seconds). The order is: known document signatures
(PDF, DOCX), known binary signatures (refused with their name), then HTML or plain text
only if the bytes decode as text. The suffix and declared type only choose between HTML
and plain text, never let binary bytes through.
"""

from __future__ import annotations

import struct
from pathlib import Path

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HTML = "text/html"
TEXT = "text/plain"
MARKDOWN = "text/markdown"
SUPPORTED_MEDIA_TYPES = (PDF, DOCX, HTML, TEXT, MARKDOWN)
BY_SUFFIX = {
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
ACCEPTED = "upload a PDF, DOCX, HTML, TXT or Markdown file"

# Signatures of common binary formats, checked at offset 0 (offset 4 for ISO media).
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows program (EXE/DLL)"),
    (b"\x7fELF", "a Linux program (ELF)"),
    (b"\xcf\xfa\xed\xfe", "a macOS program (Mach-O)"),
    (b"\xfe\xed\xfa\xcf", "a macOS program (Mach-O)"),
    (b"\xca\xfe\xba\xbe", "a Java class or macOS universal binary"),
    (b"\x00asm", "a WebAssembly module"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"RIFF", "a RIFF media file (WAV/AVI/WebP)"),
    (b"OggS", "an Ogg media file"),
    (b"ID3", "an MP3 file"),
    (b"fLaC", "a FLAC file"),
    (b"\x1a\x45\xdf\xa3", "a Matroska/WebM video"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office file (.doc/.xls); save it as .docx or PDF"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"{\\rtf", "an RTF file; save it as .docx or PDF"),
)


class UnsupportedContent(ValueError):
    """The bytes are not a document type we read; the message names what they are."""


def _binary_kind(data: bytes) -> str | None:
    for magic, what in _BINARY_MAGIC:
        if data.startswith(magic):
            # "BM" and "MZ" are short: demand the rest to look binary too before naming them.
            if len(magic) <= 2 and not looks_binary(data):
                continue
            return what
    if data[4:8] == b"ftyp":
        return "an MP4/QuickTime/HEIC media file"
    return None


def looks_binary(data: bytes) -> bool:
    """NUL bytes or many control characters in the first 8 KB (UTF-16 with a BOM is text)."""
    sample = data[:8192]
    if not sample:
        return False
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    control = sum(1 for b in sample if b < 9 or 13 < b < 32 or b == 127)
    return b"\x00" in sample or control / len(sample) > 0.05


def zip_entry_count(data: bytes) -> int | None:
    """Entries the ZIP's end-of-central-directory record declares, read without building the index."""
    tail = data[-(65536 + 22) :]
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or pos + 22 > len(tail):
        return None
    return int(struct.unpack("<H", tail[pos + 10 : pos + 12])[0])


def is_docx(data: bytes, max_entries: int) -> bool:
    """A ZIP whose directory lists word/document.xml. Raises UnsupportedContent for an oversized directory."""
    import io
    import zipfile

    count = zip_entry_count(data)
    if count is not None and count > max_entries:
        raise UnsupportedContent(f"the archive lists {count:,} entries, more than a Word file has ({max_entries:,})")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError, OSError):
        return False
    if len(infos) > max_entries:
        raise UnsupportedContent(
            f"the archive lists {len(infos):,} entries, more than a Word file has ({max_entries:,})"
        )
    return any(i.filename == "word/document.xml" for i in infos)


def _pdf_signature(data: bytes) -> bool:
    # Readers accept junk before the header, within the first KB.
    return b"%PDF-" in data[:1024]


def sniff(data: bytes, filename: str | None = None, declared: str | None = None, max_zip_entries: int = 2000) -> str:
    """The media type the bytes show; UnsupportedContent says what else they are and what to send."""
    suffix = Path(filename or "").suffix.lower()
    claimed = BY_SUFFIX.get(suffix) or (declared or "").split(";")[0].strip().lower()
    if data.lstrip()[:5] == b"%PDF-" or (_pdf_signature(data) and claimed == PDF):
        return PDF
    if data[:4] == b"PK\x03\x04":
        if is_docx(data, max_zip_entries):
            return DOCX
        if claimed == DOCX:
            return DOCX  # damaged or fake Word file: the reader says it cannot read it
        raise UnsupportedContent(f"this is a ZIP archive but not a Word .docx file; {ACCEPTED}")
    kind = _binary_kind(data)
    if kind:
        named = f" (named {suffix})" if suffix else ""
        raise UnsupportedContent(f"by its content this is {kind}{named}, not a document; {ACCEPTED}")
    if claimed == PDF:
        raise UnsupportedContent(f"the file is named or declared a PDF but does not start like one; {ACCEPTED}")
    if claimed == DOCX:
        raise UnsupportedContent(f"the file is named or declared a .docx but is not a ZIP package; {ACCEPTED}")
    if looks_binary(data):
        what = f" ({claimed})" if claimed else ""
        raise UnsupportedContent(f"the file holds binary data, not text{what}; {ACCEPTED}")
    if claimed in (HTML, TEXT, MARKDOWN):
        return claimed
    head = data[:2048].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<body" in head[:1024]:
        return HTML
    return TEXT
