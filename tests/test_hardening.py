"""Units of the hardening: sniffing, capped reading, confusables, budgets, CSV/file-name/throttle helpers."""

from __future__ import annotations

import threading
import time

import pytest

from classifier import budget
from classifier.confusables import fold
from classifier.extract import HTML, PDF, TEXT, ExtractionError, Limits, extract_bytes, extract_text
from classifier.sniff import UnsupportedContent, sniff
from serving.inputs import json_depth
from serving.security import AuthThrottle, RateLimiter, clean_filename, csv_safe
from tests.hostile import files as f


@pytest.mark.parametrize(
    ("data", "name", "what"),
    [
        (f.EXE, "a.txt", "Windows program"),
        (f.ELF, "a.md", "Linux program"),
        (f.PNG, "a.html", "PNG image"),
        (f.JPEG, "a.pdf", "JPEG image"),
        (f.GZIP, "a.txt", "gzip"),
        (f.OLE, "a.docx", "old Office file"),
    ],
)
def test_binaries_are_named_whatever_their_suffix(data, name, what):
    with pytest.raises(UnsupportedContent, match=what):
        sniff(data, name)


def test_sniff_trusts_bytes_then_chooses_html_or_text():
    assert sniff(b"%PDF-1.7 ...", "notes.txt") == PDF
    assert sniff(b"<p>hello</p>", "page.html") == HTML
    assert sniff(b"<!doctype html><p>x", None) == HTML
    assert sniff(b"plain words", "a.bin", "application/octet-stream") == TEXT
    with pytest.raises(UnsupportedContent, match="binary data"):
        sniff(bytes(range(256)) * 4, "a.txt")
    with pytest.raises(UnsupportedContent, match="not a Word"):
        sniff(f.plain_zip(), "a.zip")
    with pytest.raises(UnsupportedContent, match="does not start like one"):
        sniff(b"just text", "sheet.pdf")


def test_text_is_cut_before_normalising():
    limits = Limits(max_chars=1000)
    ex = extract_text("word   " * 1_000_000, limits=limits)  # 7 M characters in
    assert ex.truncated and len(ex.text) == 1000


def test_pdf_pages_are_capped_while_read():
    started = time.monotonic()
    ex = extract_bytes(f.pdf_page_fan_out(250), filename="fan.pdf", limits=Limits(max_chars=50_000))
    assert ex.truncated and len(ex.text) == 50_000 and ex.pages == 250
    assert time.monotonic() - started < 30


def test_docx_members_are_checked_before_inflating():
    with pytest.raises(ExtractionError) as err:
        extract_bytes(f.docx_zip_bomb(100 * 1024 * 1024), filename="b.docx", limits=Limits(max_zip_member_bytes=10**7))
    assert err.value.code == "document_too_complex" and "max_zip_member_bytes" in err.value.message


def test_child_memory_limit_turns_a_bomb_into_an_error():
    with pytest.raises(ExtractionError) as err:
        extract_bytes(
            f.html_many_nodes(2_000_000),
            filename="n.html",
            limits=Limits(memory_mb=200, max_bytes=64 * 1024 * 1024),
        )
    assert err.value.code == "document_too_complex" and "200 MB" in err.value.message


def test_deep_html_is_read_and_deeper_html_is_flagged():
    assert f.FACE in extract_bytes(f.html_deep(300), filename="d.html").text
    ex = extract_bytes(f.html_deep(3000), filename="d.html")
    assert any(w.startswith("hidden_content_dropped:") for w in ex.warnings)
    assert f.FACE in extract_bytes(f.html_huge_attribute(11 * 1024 * 1024), filename="a.html").text


def test_encrypted_pdf_with_an_empty_password_opens():
    assert f.FACE in extract_bytes(f.pdf_encrypted(), filename="e.pdf").text
    with pytest.raises(ExtractionError) as err:
        extract_bytes(f.pdf_encrypted("secret"), filename="e.pdf")
    assert err.value.code == "encrypted_document"


def test_confusables_fold_in_latin_text_only():
    out = fold(f.confusable_text())
    assert out.text == "The VX-9 compares every face with a police watch list in real time."
    assert out.letters == 9 and out.warning and out.warning.startswith("confusable_letters_folded:")
    russian = "Камера распознаёт лица и сравнивает их с базой"
    assert fold(russian).text == russian and fold(russian).letters == 0
    greek = "Η κάμερα αναγνωρίζει πρόσωπα"
    assert fold(greek).text == greek
    ex = extract_text(f.confusable_text())
    assert "face" in ex.text and any(w.startswith("confusable_letters_folded:") for w in ex.warnings)


def test_budget_stops_extraction_when_the_client_leaves():
    b = budget.start(60)
    threading.Timer(0.3, b.cancelled.set).start()
    started = time.monotonic()
    with budget.use(b), pytest.raises(budget.BudgetExceeded) as err:
        extract_bytes(f.raw_pdf(f.text_ops(f.FACE, 300_000)), filename="slow.pdf", limits=Limits(timeout_s=20))
    assert err.value.code == "client_disconnected" and time.monotonic() - started < 5


def test_budget_deadline_is_504_material():
    with budget.use(budget.start(0.0)), pytest.raises(budget.BudgetExceeded) as err:
        budget.check()
    assert err.value.code == "deadline_exceeded" and "request_timeout_s" in err.value.message
    budget.check()  # outside a request there is no budget


def test_parse_slots_are_capped():
    import classifier.extract as ex

    slots = ex._slots(1)
    assert slots.acquire(timeout=1)
    try:
        with pytest.raises(ExtractionError) as err:
            limits = Limits(timeout_s=0.3, max_parallel_parses=1)
            extract_bytes(f.raw_pdf(f.text_ops(f.FACE, 1)), filename="a.pdf", limits=limits)
        assert err.value.code == "parser_busy"
    finally:
        slots.release()


def test_csv_cells_and_file_names():
    assert csv_safe("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert [csv_safe(v) for v in ("+1", "-1", "@x", "ok", 3)] == ["'+1", "'-1", "'@x", "ok", 3]
    assert clean_filename("in\x00voice\u202egpj.exe\r\n") == "invoicegpj.exe"
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("\u200b\u202e") == "upload"
    assert len(clean_filename("a" * 1000) or "") == 255


def test_failed_keys_lock_out_and_rate_limit_refills():
    t = AuthThrottle(max_failures=3, window_s=60, lockout_s=30)
    assert t.failed("ip", now=0) == 0 and t.failed("ip", now=1) == 0
    assert t.failed("ip", now=2) == 30
    assert t.locked_for("ip", now=10) == pytest.approx(22) and t.locked_for("other", now=10) == 0
    assert t.locked_for("ip", now=40) == 0
    r = RateLimiter(per_minute=2)
    assert r.take(1, now=0) == 0 and r.take(1, now=0) == 0
    assert r.take(1, now=0) == pytest.approx(30)
    assert r.take(1, now=31) == 0


def test_json_depth_is_measured_without_recursion():
    deep: object = 1
    for _ in range(100_000):
        deep = [deep]
    assert json_depth(deep) > 32 and json_depth({"a": [1, {"b": 2}]}) == 4
