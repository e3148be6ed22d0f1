"""The hostile battery: each case must get a 4xx (or a correct 2xx), never a 5xx, and leave the server healthy.

Runs against a real `surveilrisk serve` subprocess (keyword model, small limits). Each case's
time goes into the report printed at the end (and written as JSON); times are not asserted.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import make_pdf
from tests.hostile import files as f
from tests.hostile.server import grandchildren

FACE = f.FACE
SCREENING = {"destination": "DE", "end_user_type": "research"}


@dataclass
class Ctx:
    c: httpx.Client
    url: str
    port: int
    keys: dict[str, str]
    canary: Any
    shared: dict[str, Any]

    def h(self, who: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def upload(self, name: str, data: bytes, route: str = "/v1/classify", **kw: Any) -> httpx.Response:
        return self.c.post(route, files={"file": (name, data)}, headers=self.h(), **kw)

    def screening(self, who: str = "alice", **fields: Any) -> dict[str, Any]:
        if "screening" not in self.shared or fields or who != "alice":
            r = self.c.post("/v1/screenings", json={"text": FACE, **SCREENING, **fields}, headers=self.h(who))
            assert r.status_code == 201, r.text
            if fields or who != "alice":
                return r.json()  # type: ignore[no-any-return]
            self.shared["screening"] = r.json()
        return self.shared["screening"]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Case:
    family: str
    name: str
    run: Callable[[Ctx], httpx.Response | int]
    expect: frozenset[int]


CASES: list[Case] = []


def case(family: str, name: str, *expect: int) -> Callable[[Callable[[Ctx], Any]], Callable[[Ctx], Any]]:
    def register(fn: Callable[[Ctx], Any]) -> Callable[[Ctx], Any]:
        CASES.append(Case(family, name, fn, frozenset(expect)))
        return fn

    return register


def raw(port: int, payload: bytes, *, pause_after: float = 0.0, rest: bytes = b"", timeout: float = 15) -> int:
    """Send raw bytes (optionally pausing mid-body); return the status code of the response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        if pause_after:
            time.sleep(pause_after)
        if rest:
            with contextlib.suppress(OSError):
                s.sendall(rest)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0


def _code(r: httpx.Response, code: str) -> httpx.Response:
    assert r.json()["code"] == code, r.text
    return r


# --------------------------------------------------------------------------- odd numbers and JSON


@case("numbers", "json_nested_100k_lists", 422)
def _(x: Ctx) -> Any:
    body = b"[" * 100_000 + b"]" * 100_000
    return x.c.post("/v1/classify", content=body, headers={**x.h(), "content-type": "application/json"})


@case("numbers", "json_nested_50k_objects", 422)
def _(x: Ctx) -> Any:
    body = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    return x.c.post("/v1/screenings", content=body, headers={**x.h(), "content-type": "application/json"})


@case("numbers", "json_nested_deep_on_review_route", 400, 422)
def _(x: Ctx) -> Any:
    sid = x.screening()["id"]
    body = b"[" * 50_000 + b"]" * 50_000
    return x.c.post(
        f"/v1/screenings/{sid}/reviews", content=body, headers={**x.h("rita"), "content-type": "application/json"}
    )


@case("numbers", "json_integer_5000_digits", 422)
def _(x: Ctx) -> Any:
    body = b'{"text": "lens", "title": ' + b"9" * 5000 + b"}"
    return x.c.post("/v1/classify", content=body, headers={**x.h(), "content-type": "application/json"})


@case("numbers", "json_integer_5000_digits_review", 400, 422)
def _(x: Ctx) -> Any:
    sid = x.screening()["id"]
    body = b'{"verdict": "confirm", "comment": "x", "evidence": [{"label": "a", "start": ' + b"9" * 5000 + b"}]}"
    return x.c.post(
        f"/v1/screenings/{sid}/reviews", content=body, headers={**x.h("rita"), "content-type": "application/json"}
    )


@case("numbers", "evidence_offset_10e30", 422)
def _(x: Ctx) -> Any:
    sid = x.screening()["id"]
    body = {"verdict": "correct", "comment": "x", "evidence": [{"label": "real_time", "start": 0, "end": 10**30}]}
    return x.c.post(f"/v1/screenings/{sid}/reviews", json=body, headers=x.h("rita"))


@case("numbers", "json_nan", 422)
def _(x: Ctx) -> Any:
    return x.c.post("/v1/classify", content=b'{"text": NaN}', headers={**x.h(), "content-type": "application/json"})


@case("numbers", "json_null_body", 422)
def _(x: Ctx) -> Any:
    return x.c.post("/v1/classify", content=b"null", headers={**x.h(), "content-type": "application/json"})


@case("numbers", "json_invalid_utf8", 422)
def _(x: Ctx) -> Any:
    headers = {**x.h(), "content-type": "application/json"}
    return x.c.post("/v1/classify", content=b'{"text": "\xff\xfe"}', headers=headers)


@case("numbers", "json_wrong_types", 422)
def _(x: Ctx) -> Any:
    return x.c.post("/v1/screenings", json={"text": ["a"], "destination": 7, "end_user_type": None}, headers=x.h())


@case("pagination", "page_10e20", 422)
def _(x: Ctx) -> Any:
    return x.c.get("/v1/screenings", params={"page": 10**20}, headers=x.h("rita"))


@case("pagination", "page_negative", 422)
def _(x: Ctx) -> Any:
    return x.c.get("/v1/screenings", params={"page": -1}, headers=x.h("rita"))


@case("pagination", "page_size_million", 422)
def _(x: Ctx) -> Any:
    return x.c.get("/v1/screenings", params={"page_size": 10**6}, headers=x.h("rita"))


@case("pagination", "page_not_a_number", 422)
def _(x: Ctx) -> Any:
    return x.c.get("/v1/screenings", params={"page": "1e9999"}, headers=x.h("rita"))


@case("pagination", "last_valid_page_is_empty", 200)
def _(x: Ctx) -> Any:
    r = x.c.get("/v1/screenings", params={"page": 1_000_000}, headers=x.h("rita"))
    assert r.json()["items"] == []
    return r


@case("pagination", "date_year_99999", 422)
def _(x: Ctx) -> Any:
    return x.c.get("/v1/screenings", params={"created_from": "99999-01-01T00:00:00"}, headers=x.h("rita"))


@case("numbers", "delete_key_huge_id", 422)
def _(x: Ctx) -> Any:
    return x.c.delete(f"/v1/keys/{10**40}", headers=x.h("ada"))


@case("numbers", "delete_key_negative_id", 422)
def _(x: Ctx) -> Any:
    return x.c.delete("/v1/keys/-5", headers=x.h("ada"))


@case("numbers", "patch_key_huge_id", 422)
def _(x: Ctx) -> Any:
    return x.c.patch(f"/v1/keys/{2**63}", json={"role": "admin"}, headers=x.h("ada"))


@case("numbers", "screening_id_4000_chars", 404)
def _(x: Ctx) -> Any:
    return x.c.get("/v1/screenings/" + "a" * 4000, headers=x.h("rita"))


# --------------------------------------------------------------------------- free-text limits


@case("limits", "review_quote_15k_words", 422)
def _(x: Ctx) -> Any:
    sid = x.screening()["id"]
    quote = " ".join(["watch"] * 15_000)
    body = {"verdict": "correct", "comment": "x", "evidence": [{"label": "real_time", "quote": quote}]}
    r = x.c.post(f"/v1/screenings/{sid}/reviews", json=body, headers=x.h("rita"))
    assert "quote" in r.json()["message"]
    return r


@case("limits", "review_comment_100k", 422)
def _(x: Ctx) -> Any:
    sid = x.screening()["id"]
    return x.c.post(
        f"/v1/screenings/{sid}/reviews", json={"verdict": "confirm", "comment": "x" * 100_000}, headers=x.h("rita")
    )


@case("limits", "review_labels_10k", 422)
def _(x: Ctx) -> Any:
    sid = x.screening()["id"]
    body = {"verdict": "correct", "comment": "x", "capabilities": [f"l{i}" for i in range(10_000)]}
    return x.c.post(f"/v1/screenings/{sid}/reviews", json=body, headers=x.h("rita"))


@case("limits", "key_name_10k", 422)
def _(x: Ctx) -> Any:
    return x.c.post("/v1/keys", json={"role": "screener", "name": "n" * 10_000}, headers=x.h("ada"))


@case("limits", "reference_10k", 422)
def _(x: Ctx) -> Any:
    return x.c.post("/v1/screenings", json={"text": FACE, **SCREENING, "reference": "r" * 10_000}, headers=x.h())


@case("limits", "end_user_name_10k", 422)
def _(x: Ctx) -> Any:
    return x.c.post("/v1/screenings", json={"text": FACE, **SCREENING, "end_user_name": "e" * 10_000}, headers=x.h())


@case("limits", "reference_filter_10k", 422)
def _(x: Ctx) -> Any:
    return x.c.get("/v1/screenings", params={"reference": "r" * 10_000}, headers=x.h("rita"))


@case("limits", "json_text_over_upload_limit", 413)
def _(x: Ctx) -> Any:
    return x.c.post("/v1/classify", json={"text": "word " * (3 * 1024 * 1024)}, headers=x.h())


@case("limits", "review_body_2mb", 413)
def _(x: Ctx) -> Any:
    sid = x.screening()["id"]
    return x.c.post(
        f"/v1/screenings/{sid}/reviews", json={"verdict": "confirm", "comment": "x" * 2_000_000}, headers=x.h("rita")
    )


@case("body", "content_length_10gb", 413)
def _(x: Ctx) -> Any:
    head = (
        f"POST /v1/classify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {x.keys['alice']}\r\n"
        "Content-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n"
    )
    return raw(x.port, head.encode() + b'{"text": "')


@case("body", "chunked_json_40mb_without_length", 413)
def _(x: Ctx) -> Any:
    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"text": "'
        for _ in range(40):
            yield b"a" * (1024 * 1024)
        yield b'"}'

    try:
        return x.c.post("/v1/classify", content=chunks(), headers={**x.h(), "content-type": "application/json"})
    except httpx.HTTPError:  # the server may close before the client finishes sending
        return 413


@case("body", "content_length_not_a_number", 400)
def _(x: Ctx) -> Any:
    return raw(x.port, b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")


@case("body", "stalled_body", 408)
def _(x: Ctx) -> Any:
    head = (
        f"POST /v1/classify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {x.keys['alice']}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    return raw(x.port, head.encode() + b'{"text": "abc')


@case("multipart", "two_hundred_fields", 400)
def _(x: Ctx) -> Any:
    data = {f"f{i}": "v" for i in range(200)}
    return x.c.post("/v1/screenings", data=data, files={"file": ("a.txt", FACE.encode())}, headers=x.h())


@case("multipart", "fields_over_request_limit", 413)
def _(x: Ctx) -> Any:
    data = {f"f{i}": "v" * (3 * 1024 * 1024) for i in range(8)}
    try:
        return x.c.post("/v1/screenings", data=data, files={"file": ("a.txt", FACE.encode())}, headers=x.h())
    except httpx.HTTPError:
        return 413


@case("multipart", "wrong_file_field", 422)
def _(x: Ctx) -> Any:
    return x.c.post("/v1/classify", files={"document": ("a.txt", FACE.encode())}, headers=x.h())


@case("multipart", "three_files_on_single_route", 400, 422)
def _(x: Ctx) -> Any:
    files = [("file", (f"{i}.txt", FACE.encode())) for i in range(3)]
    return x.c.post("/v1/classify", files=files, headers=x.h())


@case("multipart", "broken_boundary", 400, 422)
def _(x: Ctx) -> Any:
    body = b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nabc'
    return x.c.post(
        "/v1/classify", content=body, headers={**x.h(), "content-type": "multipart/form-data; boundary=OTHER"}
    )


@case("multipart", "batch_21_files", 400, 413)
def _(x: Ctx) -> Any:
    files = [("files", (f"{i}.txt", FACE.encode())) for i in range(21)]
    return x.c.post("/v1/classify/batch", files=files, headers=x.h())


@case("multipart", "control_and_bidi_in_filename", 201)
def _(x: Ctx) -> Any:
    name = "inv\x00oice\u202egpj.exe\r\n.txt"
    r = x.c.post("/v1/screenings", data=SCREENING, files={"file": (name, FACE.encode())}, headers=x.h())
    stored = r.json()["document"]["filename"]
    assert not any(ch in stored for ch in "\x00\u202e\r\n"), stored
    return r


@case("multipart", "text_plain_body", 415)
def _(x: Ctx) -> Any:
    return x.c.post("/v1/classify", content=FACE.encode(), headers={**x.h(), "content-type": "text/plain"})


# --------------------------------------------------------------------------- content sniffing / polyglots


@case("sniff", "exe_named_txt", 415)
def _(x: Ctx) -> Any:
    r = x.upload("setup.txt", f.EXE)
    assert "Windows program" in r.json()["message"]
    return r


@case("sniff", "elf_named_md", 415)
def _(x: Ctx) -> Any:
    return x.upload("notes.md", f.ELF)


@case("sniff", "png_named_html", 415)
def _(x: Ctx) -> Any:
    return x.upload("page.html", f.PNG)


@case("sniff", "jpeg_named_pdf", 415)
def _(x: Ctx) -> Any:
    return x.upload("sheet.pdf", f.JPEG)


@case("sniff", "plain_zip_named_docx", 415, 422)
def _(x: Ctx) -> Any:
    return x.upload("sheet.docx", f.plain_zip())


@case("sniff", "gzip_named_txt", 415)
def _(x: Ctx) -> Any:
    return x.upload("a.txt", f.GZIP)


@case("sniff", "old_doc_named_docx", 415)
def _(x: Ctx) -> Any:
    return x.upload("sheet.docx", f.OLE)


@case("sniff", "random_bytes_named_txt", 415)
def _(x: Ctx) -> Any:
    return x.upload("a.txt", f.random_bytes())


@case("sniff", "html_pdf_polyglot", 200, 415, 422)
def _(x: Ctx) -> Any:
    return x.upload("page.html", f.pdf_html_polyglot())


@case("sniff", "pdf_named_txt_is_read_as_pdf", 200)
def _(x: Ctx) -> Any:
    r = x.upload("notes.txt", make_pdf([FACE]))
    assert r.json()["tier"] != "minimal"
    return r


@case("sniff", "utf16_text_with_bom", 200)
def _(x: Ctx) -> Any:
    return x.upload("a.txt", FACE.encode("utf-16"))


# --------------------------------------------------------------------------- bombs


@case("bombs", "pdf_text_bomb_70mb", 200, 413, 422)
def _(x: Ctx) -> Any:
    return x.upload("bomb.pdf", f.pdf_text_bomb())


@case("bombs", "pdf_page_fan_out_100mb", 200, 413, 422)
def _(x: Ctx) -> Any:
    r = x.upload("fan.pdf", f.pdf_page_fan_out())
    if r.status_code == 200:
        assert r.json()["text_chars"] <= 200_000
    return r


@case("bombs", "pdf_5000_pages", 413)
def _(x: Ctx) -> Any:
    return _code(x.upload("pages.pdf", f.pdf_many_pages()), "too_many_pages")


@case("bombs", "pdf_deep_arrays", 200, 422)
def _(x: Ctx) -> Any:
    return x.upload("deep.pdf", f.pdf_deep_arrays())


@case("bombs", "pdf_aes256_empty_password_opens", 200)
def _(x: Ctx) -> Any:
    r = x.upload("aes.pdf", f.pdf_encrypted())
    assert r.json()["tier"] != "minimal"
    return r


@case("bombs", "pdf_password_protected", 422)
def _(x: Ctx) -> Any:
    return _code(x.upload("locked.pdf", f.pdf_encrypted("secret")), "encrypted_document")


@case("bombs", "docx_zip_bomb_300mb_member", 413)
def _(x: Ctx) -> Any:
    return _code(x.upload("bomb.docx", f.docx_zip_bomb()), "document_too_complex")


@case("bombs", "docx_lying_directory_sizes", 200, 413, 422)
def _(x: Ctx) -> Any:
    return x.upload("liar.docx", f.docx_lying_sizes())


@case("bombs", "docx_5000_entries", 413, 415)
def _(x: Ctx) -> Any:
    return x.upload("many.docx", f.docx_many_entries())


@case("bombs", "docx_deep_xml", 422)
def _(x: Ctx) -> Any:
    return x.upload("deep.docx", f.docx_deep_xml())


@case("bombs", "docx_billion_laughs", 200, 422)
def _(x: Ctx) -> Any:
    r = x.upload("lol.docx", f.docx_billion_laughs())
    if r.status_code == 200:
        assert r.json()["text_chars"] < 10_000  # entities were not expanded
    return r


@case("bombs", "html_300_nested_divs_text_is_read", 200)
def _(x: Ctx) -> Any:
    r = x.upload("deep.html", f.html_deep(300))
    assert r.json()["tier"] != "minimal", r.json()
    return r


@case("bombs", "html_5000_nested_divs_flagged", 200, 422)
def _(x: Ctx) -> Any:
    r = x.upload("deeper.html", f.html_deep(5000))
    if r.status_code == 200:
        body = r.json()
        assert body["tier"] != "minimal" or any("hidden_content_dropped" in w for w in body["warnings"]), body
    return r


@case("bombs", "html_10mb_attribute_text_is_read", 200)
def _(x: Ctx) -> Any:
    r = x.upload("attr.html", f.html_huge_attribute())
    assert r.json()["tier"] != "minimal", r.json()
    return r


@case("bombs", "html_million_nodes", 200, 413, 422)
def _(x: Ctx) -> Any:
    return x.upload("nodes.html", f.html_many_nodes())


@case("bombs", "text_12mb_one_line", 200, 413)
def _(x: Ctx) -> Any:
    r = x.upload("line.txt", b"a" * (12 * 1024 * 1024 - 10))
    if r.status_code == 200:
        assert r.json()["text_chars"] <= 200_000
    return r


@case("bombs", "batch_of_slow_files_has_a_budget", 200)
def _(x: Ctx) -> Any:
    files = [("files", (f"b{i}.pdf", f.raw_pdf(f.text_ops(FACE, 200_000)))) for i in range(4)]
    r = x.c.post("/v1/classify/batch", files=files, headers=x.h())
    codes = [i.get("error", {}).get("code") for i in r.json()["results"]]
    assert "batch_budget_exceeded" in codes or "extraction_timeout" in codes, codes
    return r


# --------------------------------------------------------------------------- hidden words


@case("evasion", "cyrillic_confusables_folded", 200)
def _(x: Ctx) -> Any:
    r = x.c.post("/v1/classify", json={"text": f.confusable_text()}, headers=x.h())
    body = r.json()
    assert body["tier"] != "minimal" and any("confusable_letters_folded" in w for w in body["warnings"]), body
    return r


@case("evasion", "zero_width_between_letters", 200)
def _(x: Ctx) -> Any:
    r = x.c.post("/v1/classify", json={"text": f.zero_width_text()}, headers=x.h())
    assert r.json()["tier"] != "minimal"
    return r


# --------------------------------------------------------------------------- XXE and remote references


@case("xxe", "html_external_entity_and_remote_refs", 200, 422)
def _(x: Ctx) -> Any:
    before = x.canary.connections
    r = x.upload("xxe.html", f.html_xxe(x.canary.url))
    time.sleep(0.3)
    assert x.canary.connections == before
    return r


@case("xxe", "docx_external_entity", 200, 422)
def _(x: Ctx) -> Any:
    before = x.canary.connections
    r = x.upload("xxe.docx", f.docx_xxe(x.canary.url + "/ent"))
    time.sleep(0.3)
    assert x.canary.connections == before
    return r


@case("xxe", "pdf_remote_links", 200, 422)
def _(x: Ctx) -> Any:
    before = x.canary.connections
    r = x.upload("links.pdf", f.pdf_with_remote_links(x.canary.url + "/pdf"))
    time.sleep(0.3)
    assert x.canary.connections == before
    return r


# --------------------------------------------------------------------------- auth and ownership


@case("auth", "no_key", 401)
def _(x: Ctx) -> Any:
    return x.c.get("/v1/me")


@case("auth", "bearer_without_token", 401)
def _(x: Ctx) -> Any:
    return x.c.get("/v1/me", headers={"Authorization": "Bearer"})


@case("auth", "key_100kb", 401, 431)
def _(x: Ctx) -> Any:
    return x.c.get("/v1/me", headers={"Authorization": "Bearer " + "k" * 30_000})


@case("auth", "revoked_key", 401)
def _(x: Ctx) -> Any:
    r = x.c.post("/v1/keys", json={"role": "screener", "name": "temp"}, headers=x.h("ada"))
    key, kid = r.json()["key"], r.json()["id"]
    assert x.c.delete(f"/v1/keys/{kid}", headers=x.h("ada")).status_code == 204
    return x.c.get("/v1/me", headers={"Authorization": f"Bearer {key}"})


@case("auth", "screener_reads_another_screening", 404)
def _(x: Ctx) -> Any:
    sid = x.screening()["id"]
    return x.c.get(f"/v1/screenings/{sid}", headers=x.h("bob"))


@case("auth", "screener_cannot_review", 403)
def _(x: Ctx) -> Any:
    sid = x.screening()["id"]
    return x.c.post(f"/v1/screenings/{sid}/reviews", json={"verdict": "confirm", "comment": "x"}, headers=x.h())


@case("auth", "reviewer_cannot_create_keys", 403)
def _(x: Ctx) -> Any:
    return x.c.post("/v1/keys", json={"role": "admin", "name": "me"}, headers=x.h("rita"))


@case("auth", "reviewer_cannot_change_roles", 403)
def _(x: Ctx) -> Any:
    return x.c.patch("/v1/keys/1", json={"role": "screener"}, headers=x.h("rita"))


@case("auth", "screener_csv_holds_only_own_rows", 200)
def _(x: Ctx) -> Any:
    x.screening()
    x.screening("bob", reference="bob-row")
    r = x.c.get("/v1/screenings/export.csv", headers=x.h("alice"))
    assert "bob-row" not in r.text
    return r


@case("auth", "last_admin_cannot_be_revoked", 409)
def _(x: Ctx) -> Any:
    return x.c.delete("/v1/keys/1", headers=x.h("ada"))


@case("abuse", "csv_formula_cells_neutralised", 200)
def _(x: Ctx) -> Any:
    x.screening(reference='=HYPERLINK("http://evil","x")', end_user_name="+cmd|' /C calc'!A0")
    r = x.c.get("/v1/screenings/export.csv", headers=x.h("rita"))
    rows = list(csv.reader(io.StringIO(r.text)))
    cells = [cell for row in rows[1:] for cell in row]
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells), cells
    assert any(cell.startswith("'=HYPERLINK") for cell in cells)
    return r


@case("abuse", "security_headers_on_page", 200)
def _(x: Ctx) -> Any:
    r = x.c.get("/")
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp.split(";")[1]
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "no-referrer"
    return r


@case("abuse", "client_leaves_during_slow_parse", 0)
def _(x: Ctx) -> Any:
    data = f.pdf_text_bomb()
    boundary = "hostileboundary"
    payload = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST /v1/classify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {x.keys['alice']}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", x.port)) as s:
        s.sendall(head + payload)
        deadline = time.monotonic() + 3
        while not grandchildren(x.shared["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert grandchildren(x.shared["pid"]), "the parse did not start"
    # The client has gone; the parse (4 s limit) must be stopped well before its own time limit.
    left = time.monotonic()
    while grandchildren(x.shared["pid"]) and time.monotonic() - left < 3:
        time.sleep(0.05)
    assert not grandchildren(x.shared["pid"]), "the parsing child outlived its client"
    return 0


@case("abuse", "failed_keys_lock_out_with_retry_after", 429)
def _(x: Ctx) -> Any:
    last = None
    for i in range(25):
        last = x.c.get("/v1/me", headers={"Authorization": f"Bearer sr_guess{i}"})
        if last.status_code == 429:
            break
    assert last is not None and int(last.headers["retry-after"]) >= 1
    time.sleep(3.5)  # the battery's lockout is 3 s
    assert x.c.get("/v1/me", headers=x.h()).status_code == 200
    return last


# --------------------------------------------------------------------------- the test


@pytest.mark.parametrize("hostile", CASES, ids=[f"{c.family}-{c.name}" for c in CASES])
def test_hostile_case(hostile: Case, battery: dict[str, Any], canary: Any) -> None:
    server = battery["server"]
    with httpx.Client(base_url=server.url, timeout=60) as c:
        shared = battery.setdefault("shared", {"pid": server.pid})
        ctx = Ctx(c, server.url, server.port, battery["keys"], canary, shared)
        started = time.perf_counter()
        result = hostile.run(ctx)
        seconds = time.perf_counter() - started
        status = result if isinstance(result, int) else result.status_code
        battery["cases"].append({"family": hostile.family, "name": hostile.name, "status": status, "seconds": seconds})
        detail = result.text[:300] if isinstance(result, httpx.Response) else ""
        assert status in hostile.expect, (status, detail)
        if isinstance(result, httpx.Response) and status >= 400 and result.content:
            body = json.loads(result.content)
            assert set(body) >= {"code", "message"} and "Traceback" not in result.text
        health = c.get("/healthz")
        assert health.status_code == 200
    assert server.proc.poll() is None, server.log()[-3000:]


def test_battery_is_big_enough() -> None:
    assert len(CASES) >= 60


def test_server_log_is_clean(battery: dict[str, Any]) -> None:
    """Run after the cases (pytest keeps file order): no ASGI exceptions or tracebacks were logged."""
    log = battery["server"].log()
    assert "Exception in ASGI application" not in log, log[-5000:]
    assert "Traceback" not in log, log[-5000:]
