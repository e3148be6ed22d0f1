"""Hostile files, generated on the fly (nothing large is committed)."""

from __future__ import annotations

import io
import os
import zipfile
import zlib

from tests.conftest import make_docx, make_pdf

FACE = "The VX-9 compares every face with a police watch list in real time."


def raw_pdf(content: bytes, pages: int = 1, compress: bool = True, extra_objects: list[bytes] | None = None) -> bytes:
    """A hand-written PDF whose pages all draw the same content stream (so a small file can expand a lot)."""
    stream = zlib.compress(content, 9) if compress else content
    filt = b"/Filter /FlateDecode " if compress else b""
    objs: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # pages, filled below
        b"<< /Length " + str(len(stream)).encode() + b" " + filt + b">>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    first_page = len(objs) + 1
    kids = []
    for i in range(pages):
        kids.append(f"{first_page + i} 0 R".encode())
        objs.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
            b"/Resources << /Font << /F1 4 0 R >> >> >>"
        )
    objs[1] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count " + str(pages).encode() + b" >>"
    objs.extend(extra_objects or [])
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(f"{n} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def text_ops(text: str, repeat: int) -> bytes:
    return b"BT /F1 10 Tf 20 700 Td " + (b"(" + text.encode() + b" ) Tj ") * repeat + b"ET"


def pdf_text_bomb() -> bytes:
    """~70 MB of text-drawing operators deflated to a small stream."""
    return raw_pdf(text_ops(FACE, 1_000_000))


def pdf_page_fan_out(pages: int = 250) -> bytes:
    """Every page draws the same 400 KB stream: small file, ~100 MB of text if read whole."""
    return raw_pdf(text_ops(FACE, 6000), pages=pages)


def pdf_many_pages(pages: int = 5000) -> bytes:
    return raw_pdf(text_ops(FACE, 1), pages=pages)


def pdf_deep_arrays(depth: int = 50_000) -> bytes:
    return raw_pdf(text_ops(FACE, 1), extra_objects=[b"[" * depth + b"]" * depth])


def pdf_encrypted(password: str = "", algorithm: str = "AES-256") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([FACE]))))
    writer.encrypt(user_password=password, owner_password="owner-secret", algorithm=algorithm)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def pdf_with_remote_links(url: str) -> bytes:
    link = b"<< /Type /Annot /Subtype /Link /Rect [0 0 100 100] /A << /S /URI /URI (" + url.encode() + b") >> >>"
    launch = b"<< /Type /Action /S /GoToR /F << /FS /URL /F (" + url.encode() + b") >> /D [0 /Fit] >>"
    return raw_pdf(text_ops(FACE, 1), extra_objects=[link, launch])


def _rezip(base: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    zin = zipfile.ZipFile(io.BytesIO(base))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for info in zin.infolist():
            data = (replace or {}).get(info.filename, zin.read(info.filename))
            z.writestr(info.filename, data)
        for name, data in (add or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


def docx_zip_bomb(inflated: int = 300 * 1024 * 1024) -> bytes:
    return _rezip(make_docx([FACE]), add={"word/media/zeros.bin": b"\0" * inflated})


def docx_lying_sizes() -> bytes:
    """A document.xml whose real size is far above what its directory entry claims."""
    good = make_docx([FACE])
    data = bytearray(_rezip(good, replace={"word/document.xml": b"<w:document/>" + b" " * (40 * 1024 * 1024)}))
    # Patch the central directory's uncompressed size of document.xml to 100 bytes.
    name = b"word/document.xml"
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        nlen = int.from_bytes(data[pos + 28 : pos + 30], "little")
        if data[pos + 46 : pos + 46 + nlen] == name:
            data[pos + 24 : pos + 28] = (100).to_bytes(4, "little")
        pos = data.find(b"PK\x01\x02", pos + 4)
    return bytes(data)


def docx_many_entries(n: int = 5000) -> bytes:
    return _rezip(make_docx([FACE]), add={f"customXml/extra{i}.xml": b"<a/>" for i in range(n)})


def _document_xml(body: bytes, doctype: bytes = b"") -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + doctype + b"<w:document "
        b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
        + body
        + b"</w:body></w:document>"
    )


def docx_deep_xml(depth: int = 20_000) -> bytes:
    body = b"<w:p>" * depth + b"<w:r><w:t>" + FACE.encode() + b"</w:t></w:r>" + b"</w:p>" * depth
    return _rezip(make_docx([FACE]), replace={"word/document.xml": _document_xml(body)})


def docx_billion_laughs() -> bytes:
    ents = b'<!ENTITY l0 "lol">' + b"".join(
        f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">'.encode() for i in range(1, 10)
    )
    body = b"<w:p><w:r><w:t>&l9;</w:t></w:r></w:p>"
    xml = _document_xml(body, b"<!DOCTYPE w [" + ents + b"]>")
    return _rezip(make_docx([FACE]), replace={"word/document.xml": xml})


def docx_xxe(url: str) -> bytes:
    doctype = f'<!DOCTYPE w [<!ENTITY ext SYSTEM "{url}">]>'.encode()
    body = b"<w:p><w:r><w:t>" + FACE.encode() + b" &ext;</w:t></w:r></w:p>"
    return _rezip(make_docx([FACE]), replace={"word/document.xml": _document_xml(body, doctype)})


def html_deep(depth: int) -> bytes:
    return ("<html><body><p>Intro.</p>" + "<div>" * depth + FACE + "</div>" * depth + "</body></html>").encode()


def html_huge_attribute(size: int = 10 * 1024 * 1024) -> bytes:
    return (f'<html><body><p data-x="{"a" * size}">{FACE}</p></body></html>').encode()


def html_many_nodes(n: int = 1_000_000) -> bytes:
    return ("<html><body>" + "<b>x</b>" * n + f"<p>{FACE}</p></body></html>").encode()


def html_xxe(url: str) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE html [<!ENTITY ext SYSTEM "{url}">]>'
        f'<html><head><link rel="stylesheet" href="{url}/css"><script src="{url}/js"></script></head>'
        f'<body><img src="{url}/img"><iframe src="{url}/frame"></iframe><p>{FACE} &ext;</p></body></html>'
    ).encode()


def confusable_text() -> str:
    # Cyrillic а, с, е, о, р in the words that carry the meaning
    return "The VX-9 compares every fасе with a роliсе wаtсh list in real time."


def zero_width_text() -> str:
    return "\u200b".join(FACE)


def random_bytes(n: int = 65536) -> bytes:
    return os.urandom(n)


EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(200) + b"This program cannot be run"
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(200)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(200)
GZIP = b"\x1f\x8b\x08\x00" + bytes(200)
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200)


def plain_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("notes.txt", FACE)
    return buf.getvalue()


def pdf_html_polyglot() -> bytes:
    return b"<html><body>" + FACE.encode() + b"</body></html>\n" + make_pdf([FACE])
