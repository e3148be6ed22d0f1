import time

import pytest

from classifier.extract import (
    DOCX,
    HTML,
    PDF,
    TEXT,
    ExtractionError,
    Limits,
    detect_media_type,
    extract_bytes,
    extract_path,
    extract_text,
)
from tests.conftest import make_image_only_pdf, make_paged_pdf

SPEC = "The VX-9 compares every captured face with a watch list of 50,000 identities."


def test_pdf_text_is_extracted(pdf_factory):
    data = pdf_factory(["Halvard VX-9 datasheet", SPEC], pages=2)
    ex = extract_bytes(data, filename="vx9.pdf")
    assert ex.media_type == PDF
    assert ex.pages == 2
    assert SPEC in ex.text
    assert ex.text.count("Halvard VX-9 datasheet") == 2
    assert len(ex.sha256) == 64 and ex.size_bytes == len(data)


PAGE_ONE = ["Halvard VX-9 datasheet", "Housing: aluminium, IP67, weight 1.2 kg, operating range -30 to 60 C."]
PAGE_TWO = ["Analytics", SPEC]
PAGE_THREE = ["Ordering information: VX-9-B (black), VX-9-W (white)."]


def test_pdf_page_starts_locate_every_page():
    ex = extract_bytes(make_paged_pdf([PAGE_ONE, PAGE_TWO, PAGE_THREE]), filename="vx9.pdf")
    assert ex.pages == 3 and ex.page_starts is not None and len(ex.page_starts) == 3
    assert ex.page_starts[0] == 0
    at = ex.text.index(SPEC)
    assert ex.page_of(at) == 2 and ex.page_of(0) == 1
    assert ex.page_of(ex.text.index("Ordering information")) == 3
    assert ex.page_of(ex.text.index("IP67")) == 1
    assert ex.text[ex.page_starts[1] :].startswith("Analytics")  # the offset is where page 2's text begins
    assert ex.text[ex.page_starts[2] :].startswith("Ordering")


def test_documents_without_pages_have_no_page_offsets(docx_factory):
    assert extract_text(SPEC).page_starts is None and extract_text(SPEC).page_of(3) is None
    assert extract_bytes(docx_factory([SPEC]), filename="a.docx").page_starts is None


def test_pdf_evidence_names_its_page():
    from classifier.predict import Classifier

    data = make_paged_pdf([PAGE_ONE * 3, PAGE_TWO, PAGE_THREE])
    result = Classifier.load("keyword").classify_bytes(data, filename="vx9.pdf")
    spans = [e for d in (*result.capabilities, *result.risk_factors) for e in d.evidence]
    assert spans, result
    on_two = [e for e in spans if "watch list" in e.text]
    assert on_two and all(e.page == 2 for e in on_two)
    text_result = Classifier.load("keyword").classify_text(SPEC)
    assert all(e.page is None for d in text_result.capabilities for e in d.evidence)


def test_docx_paragraphs_and_tables_are_extracted(docx_factory):
    data = docx_factory(["Halvard VX-9", SPEC], table=[["Resolution", "3840 x 2160"], ["PoE", "802.3af"]])
    ex = extract_bytes(data, filename="upload.bin")  # bytes decide, not the name
    assert ex.media_type == DOCX
    assert SPEC in ex.text
    assert "Resolution | 3840 x 2160" in ex.text


def test_html_visible_text_only():
    page = b"""<html><head><title>t</title><style>.x{color:red}</style><script>var secret=1;</script></head>
    <body><nav>Home &gt; Products</nav><h1>VX-9</h1><p>It compares every captured face
    with a <b>watch list</b>.</p><table><tr><td>Lens</td><td>2.8 mm</td></tr></table></body></html>"""
    ex = extract_bytes(page, filename="vx9.html")
    assert ex.media_type == HTML
    assert "secret" not in ex.text and "color" not in ex.text
    assert "It compares every captured face with a watch list." in ex.text
    assert "Lens | 2.8 mm" in ex.text


def test_html_encodings_follow_the_page_or_default_to_utf8():
    body = "<html><body><h1>CityGuard — visage caméra</h1></body></html>"
    undeclared = extract_bytes(body.encode("utf-8"), filename="p.html").text
    assert "CityGuard — visage caméra" in undeclared  # lxml alone would read Latin-1 mojibake
    declared = body.replace("<html>", '<html><head><meta charset="windows-1252"></head>').encode("cp1252")
    assert "CityGuard — visage caméra" in extract_bytes(declared, filename="p.html").text
    xml_decl = ('<?xml version="1.0" encoding="utf-8"?>' + body).encode("utf-8")
    assert "visage caméra" in extract_bytes(xml_decl, filename="p.xhtml", declared_type="text/html").text


def test_text_encodings():
    assert extract_bytes("Caméra — visage".encode("utf-16"), filename="a.txt").text == "Caméra — visage"
    assert extract_bytes("Caméra".encode("cp1252"), filename="a.txt").text == "Caméra"
    assert extract_bytes(b"\xef\xbb\xbfplain words here", filename="a.md").text == "plain words here"


def test_image_only_pdf_says_no_text_found():
    with pytest.raises(ExtractionError) as err:
        extract_bytes(make_image_only_pdf(), filename="scan.pdf")
    assert err.value.code == "no_text_found"
    assert "OCR" in err.value.message


def test_limits_name_the_limit(pdf_factory):
    with pytest.raises(ExtractionError) as err:
        extract_bytes(b"x" * 5000, filename="a.txt", limits=Limits(max_bytes=4096))
    assert err.value.code == "file_too_large" and "4,096" in err.value.message
    with pytest.raises(ExtractionError) as err:
        extract_bytes(pdf_factory(["page"], pages=3), filename="a.pdf", limits=Limits(max_pages=2))
    assert err.value.code == "too_many_pages" and "limit of 2" in err.value.message
    ex = extract_text("word " * 1000, limits=Limits(max_chars=1000))
    assert ex.truncated and len(ex.text) == 1000 and "truncated" in ex.warnings[0]


def test_unsupported_and_damaged_files():
    with pytest.raises(ExtractionError) as err:
        extract_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR" + bytes(200), filename="photo.png")
    assert err.value.code == "unsupported_media_type"
    with pytest.raises(ExtractionError) as err:
        extract_bytes(b"%PDF-1.7\n garbage that is not a pdf", filename="broken.pdf")
    assert err.value.code in {"unreadable_document", "no_text_found"}
    with pytest.raises(ExtractionError) as err:
        extract_bytes(b"PK\x03\x04 not really a docx word/", filename="x.docx")
    assert err.value.code == "unreadable_document"
    with pytest.raises(ExtractionError) as err:
        extract_bytes(b"   \n  ", filename="empty.txt")
    assert err.value.code == "empty_document"


def test_extraction_time_limit_kills_the_worker(monkeypatch, pdf_factory):
    import classifier.extract as ex_mod

    data = pdf_factory(["slow"])
    started = time.monotonic()
    with pytest.raises(ExtractionError) as err:
        # 0.001 s is shorter than any real parse, so the worker is killed by the limit
        extract_bytes(data, filename="slow.pdf", limits=Limits(timeout_s=0.001))
    assert err.value.code == "extraction_timeout"
    assert "0.001 s limit" in err.value.message
    assert time.monotonic() - started < 20
    assert ex_mod  # the module-level context is reused afterwards
    assert "slow" in extract_bytes(data, filename="slow.pdf").text


def test_media_type_detection_prefers_bytes():
    assert detect_media_type(b"%PDF-1.4 ...", "notes.txt") == PDF
    assert detect_media_type(b"<!DOCTYPE html><html>", None) == HTML
    assert detect_media_type(b"just words", None, "text/plain; charset=utf-8") == TEXT


def test_extract_path_reports_missing_file(tmp_path):
    with pytest.raises(ExtractionError) as err:
        extract_path(tmp_path / "nope.pdf")
    assert err.value.code == "unreadable_file"


def test_non_english_text_gets_a_warning():
    ex = extract_text("Die Kamera erkennt Gesichter und vergleicht sie mit einer Datenbank von Personen. " * 4)
    assert any("English" in w for w in ex.warnings)
