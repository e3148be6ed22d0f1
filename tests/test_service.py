"""The real app over HTTP with the shipped model: uploads, screening, reviews, roles, limits, audit."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from surveilrisk.cli import app as cli_app
from tests.conftest import auth, make_image_only_pdf, make_pdf

FACE_DATASHEET = [
    "Halvard VX-9 Edge Recognition Server",
    "Resolution: 3840 x 2160 | Frame rate: 25 fps | PoE: IEEE 802.3at | Storage: 2 x 8 TB",
    "The VX-9 compares every face captured by the connected cameras with a watch list of up to 100,000 "
    "enrolled persons and raises a blacklist alarm on the operator console within one second of a match.",
    "Typical users are police departments and public security bureaus running city-wide camera networks.",
]
LENS_DATASHEET = [
    "Varifocal lens VL-2812",
    "Focal length 2.8-12 mm, F1.4, IR corrected, CS mount, metal housing.",
    "The lens suits box cameras with sensors up to one third of an inch and keeps focus when the scene moves "
    "from daylight to infrared light at night. Zoom and focus are set by hand with two locking rings. "
    "Operating temperature from minus twenty to fifty degrees; weight 85 grams; supplied with a mounting adapter.",
]


def _docx(paragraphs):
    from tests.conftest import make_docx

    return make_docx(paragraphs)


def test_health_checks_need_no_key(service_factory):
    client, _ = service_factory()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"model": True, "database": True, "policy": True}


def test_classify_text_pdf_and_docx(service_factory):
    client, keys = service_factory()
    h = auth(keys["alice"])
    text = "\n".join(FACE_DATASHEET)
    r = client.post("/v1/classify", json={"text": text, "title": "vx9"}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "vx9" and body["tier"] in {"high", "critical"}
    assert set(body["scores"]) >= {"face_identification", "real_time", "law_enforcement"}
    face = next(d for d in body["capabilities"] if d["id"] == "face_identification")
    for ev in face["evidence"]:
        assert text[ev["start"] : ev["end"]] == ev["text"]

    for name, data in (("vx9.pdf", make_pdf(FACE_DATASHEET)), ("vx9.docx", _docx(FACE_DATASHEET))):
        r = client.post("/v1/classify", files={"file": (name, data)}, headers=h)
        assert r.status_code == 200, r.text
        res = r.json()
        assert res["source"] == name
        assert "face_identification" in {d["id"] for d in res["capabilities"]}
        assert res["tier"] in {"high", "critical"}

    r = client.post("/v1/classify", files={"file": ("lens.pdf", make_pdf(LENS_DATASHEET))}, headers=h)
    assert r.json()["tier"] in {"minimal", "limited"} and r.json()["capabilities"] == []


def test_batch_keeps_order_and_per_item_errors(service_factory):
    client, keys = service_factory()
    h = auth(keys["alice"])
    files = [
        ("files", ("vx9.pdf", make_pdf(FACE_DATASHEET))),
        ("files", ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(64))),
        ("files", ("lens.docx", _docx(LENS_DATASHEET))),
        ("files", ("scan.pdf", make_image_only_pdf())),
    ]
    r = client.post("/v1/classify/batch", files=files, headers=h)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["source"] for x in results] == ["vx9.pdf", "photo.png", "lens.docx", "scan.pdf"]
    assert [x["ok"] for x in results] == [True, False, True, False]
    assert results[1]["error"]["code"] == "unsupported_media_type"
    assert results[3]["error"]["code"] == "no_text_found"
    r = client.post("/v1/classify/batch", json={"items": [{"text": "lens"}] * 21}, headers=h)
    assert r.status_code == 413 and r.json()["code"] == "batch_too_large"


def test_screening_flow_review_and_feedback_export(service_factory, tmp_path):
    client, keys = service_factory()
    alice, rita, ada = auth(keys["alice"]), auth(keys["rita"]), auth(keys["ada"])
    r = client.post(
        "/v1/screenings",
        files={"file": ("vx9.pdf", make_pdf(FACE_DATASHEET))},
        data={"destination": "br", "end_user_type": "public_security", "reference": "PO-7", "end_user_name": "SSP"},
        headers=alice,
    )
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["destination"] == {"code": "BR", "name": "Brazil", "group": "rest_of_world"}
    assert s["decision"]["action"] in {"escalate", "block"}  # high or critical tier, security end user
    assert any("BR (Brazil)" in reason for reason in s["decision"]["reasons"])
    assert s["created_by"]["name"] == "alice" and s["permalink"] == f"/screenings/{s['id']}"
    assert s["document"]["media_type"] == "application/pdf" and len(s["document"]["sha256"]) == 64

    # JSON screening of a lens: proceeds
    r = client.post(
        "/v1/screenings",
        json={"text": "\n".join(LENS_DATASHEET), "destination": "DE", "end_user_type": "private_company"},
        headers=alice,
    )
    assert r.status_code == 201 and r.json()["decision"]["action"] == "proceed"

    # the reviewer corrects: adds a label the model did not cite, with a quote as evidence
    original = client.get(f"/v1/screenings/{s['id']}", headers=rita).json()
    caps = [d["id"] for d in original["classification"]["capabilities"]]
    body = {
        "verdict": "correct",
        "capabilities": sorted({*caps, "face_identification", "face_detection"}),
        "risk_factors": ["law_enforcement", "real_time", "public_space_mass_scale"],
        "tier": "critical",
        "action": "block",
        "comment": "Live watch-list matching for police across a city.",
        "action_reason": "Mass identification for police: hold for a licence decision.",
        "evidence": [
            {"label": "face_detection", "quote": "every face captured"},
            {"label": "public_space_mass_scale", "quote": "city-wide camera networks"},
            {"label": "real_time", "quote": "within one second of a match"},
            {"label": "law_enforcement", "quote": "police departments"},
        ],
    }
    r = client.post(f"/v1/screenings/{s['id']}/reviews", json=body, headers=rita)
    assert r.status_code == 201, r.text
    after = client.get(f"/v1/screenings/{s['id']}", headers=rita).json()
    assert after["classification"] == original["classification"]  # the original stays as it was
    assert {k: v for k, v in after["model_decision"].items() if k != "superseded"} == {
        k: v for k, v in original["model_decision"].items() if k != "superseded"
    }
    assert after["model_decision"]["superseded"] and not original["model_decision"]["superseded"]
    assert len(after["reviews"]) == 1 and after["reviews"][0]["tier"] == "critical"
    assert after["decision_in_force"]["source"] == "review" and after["decision_in_force"]["tier"] == "critical"

    r = client.get("/v1/feedback/export", headers=ada)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert len(lines) == 1 and lines[0]["tier"] == "critical" and lines[0]["source"] == "feedback"
    extra = tmp_path / "feedback.jsonl"
    extra.write_text(r.text)
    from classifier.taxonomy import default_taxonomy
    from training.train import TrainConfig, load_training_documents

    splits = load_training_documents(TrainConfig(extra=[extra]), default_taxonomy())  # what `train --extra` runs
    fed = [d for d in splits["train"] if d.source == "feedback"]
    assert len(fed) == 1 and "face_detection" in fed[0].capabilities
    for span in fed[0].evidence:
        assert fed[0].text[span.start : span.end].strip()


def test_review_rules(service_factory):
    client, keys = service_factory()
    r = client.post(
        "/v1/screenings",
        json={"text": "\n".join(LENS_DATASHEET), "destination": "DE", "end_user_type": "research"},
        headers=auth(keys["alice"]),
    )
    sid = r.json()["id"]
    rita = auth(keys["rita"])
    bad = [
        (
            {"verdict": "correct", "capabilities": ["face_identification"], "comment": "x"},
            "quote from the text for Face",
        ),
        (
            {
                "verdict": "correct",
                "capabilities": ["face_identification"],
                "tier": "limited",
                "comment": "x",
                "evidence": [{"label": "face_identification", "quote": "Focal length"}],
            },
            "below high",
        ),
        ({"verdict": "correct", "capabilities": ["face_scan"], "comment": "x"}, "unknown capability"),
        ({"verdict": "confirm", "tier": "high", "comment": "x"}, "takes no corrected values"),
        (
            {
                "verdict": "correct",
                "capabilities": ["face_detection"],
                "comment": "x",
                "evidence": [{"label": "face_detection", "quote": "not in the text"}],
            },
            "not in the document",
        ),
    ]
    for payload, message in bad:
        r = client.post(f"/v1/screenings/{sid}/reviews", json=payload, headers=rita)
        assert r.status_code == 422 and message in r.json()["message"], (payload, r.json())
    r = client.post(f"/v1/screenings/{sid}/reviews", json={"verdict": "confirm", "comment": "agreed"}, headers=rita)
    assert r.status_code == 201
    assert (
        client.post(
            "/v1/screenings/scr_nope/reviews", json={"verdict": "confirm", "comment": "x"}, headers=rita
        ).status_code
        == 404
    )


def test_roles_and_ownership(service_factory):
    client, keys = service_factory()
    alice, bob, rita, ada = (auth(keys[n]) for n in ("alice", "bob", "rita", "ada"))
    payload = {"text": "\n".join(LENS_DATASHEET), "destination": "FR", "end_user_type": "research"}
    sid = client.post("/v1/screenings", json=payload, headers=alice).json()["id"]
    client.post("/v1/screenings", json={**payload, "reference": "bob-1"}, headers=bob)

    assert client.get("/v1/taxonomy").status_code == 401
    assert client.get("/v1/taxonomy", headers={"Authorization": "Bearer sr_wrong"}).json()["code"] == "unauthorized"
    assert client.get(f"/v1/screenings/{sid}", headers=bob).status_code == 404  # not bob's
    assert client.get(f"/v1/screenings/{sid}", headers=alice).status_code == 200
    assert client.get(f"/v1/screenings/{sid}", headers=rita).status_code == 200
    assert client.get("/v1/screenings", headers=bob).json()["total"] == 1
    assert client.get("/v1/screenings", headers=rita).json()["total"] == 2
    r = client.post(f"/v1/screenings/{sid}/reviews", json={"verdict": "confirm", "comment": "x"}, headers=alice)
    assert r.status_code == 403 and "reviewer role" in r.json()["message"]
    assert client.get("/v1/feedback/export", headers=rita).status_code == 403
    assert client.get("/v1/keys", headers=rita).status_code == 403
    assert client.get("/metrics", headers=alice).status_code == 403

    r = client.post("/v1/keys", json={"role": "screener", "name": "carol"}, headers=ada)
    assert r.status_code == 201 and r.json()["key"].startswith("sr_")
    carol = auth(r.json()["key"])
    assert client.get("/v1/me", headers=carol).json()["role"] == "screener"
    assert client.delete(f"/v1/keys/{r.json()['id']}", headers=ada).status_code == 204
    assert client.get("/v1/me", headers=carol).status_code == 401

    metrics = client.get("/metrics", headers=ada)
    assert metrics.status_code == 200 and "surveilrisk_classifications_total" in metrics.text
    assert 'surveilrisk_screenings_total{action="proceed"} 2.0' in metrics.text


def test_filters_and_pagination(service_factory):
    client, keys = service_factory()
    rita = auth(keys["rita"])
    for i in range(5):
        text = "\n".join(FACE_DATASHEET if i % 2 else LENS_DATASHEET)
        client.post(
            "/v1/screenings",
            json={"text": text, "destination": "DE", "end_user_type": "private_company", "reference": f"R{i}"},
            headers=auth(keys["alice"]),
        )
    page = client.get("/v1/screenings", params={"page_size": 2, "page": 1}, headers=rita).json()
    assert page["total"] == 5 and [x["reference"] for x in page["items"]] == ["R4", "R3"]
    assert (
        client.get("/v1/screenings", params={"page": 3, "page_size": 2}, headers=rita).json()["items"][0]["reference"]
        == "R0"
    )
    proceed = client.get("/v1/screenings", params={"action": "proceed"}, headers=rita).json()
    assert {x["reference"] for x in proceed["items"]} == {"R0", "R2", "R4"}
    assert client.get("/v1/screenings", params={"reference": "R3"}, headers=rita).json()["total"] == 1
    future = client.get("/v1/screenings", params={"created_from": "2999-01-01T00:00:00Z"}, headers=rita).json()
    assert future["total"] == 0
    r = client.get("/v1/screenings", params={"action": "maybe"}, headers=rita)
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"


def test_limits_and_error_codes(service_factory):
    client, keys = service_factory(max_upload_bytes=4096, max_pages=1)
    h = auth(keys["alice"])
    cases = [
        (dict(files={"file": ("big.txt", b"word " * 2000)}), 413, "file_too_large", "4,096"),
        (dict(files={"file": ("two.pdf", make_pdf(["page"], pages=2))}), 413, "too_many_pages", "limit of 1"),
        (dict(files={"file": ("scan.pdf", make_image_only_pdf())}), 422, "no_text_found", "no text"),
        (dict(files={"file": ("x.png", b"\x89PNG\r\n\x1a\n" + bytes(64))}), 415, "unsupported_media_type", "PDF"),
        (dict(files={"file": ("e.txt", b"   ")}), 422, "empty_document", "empty"),
        (dict(content=b"{not json", headers={"content-type": "application/json"}), 422, "invalid_json", "JSON"),
        (dict(content=b"text", headers={"content-type": "text/plain"}), 415, "unsupported_media_type", "multipart"),
        (dict(json={"title": "no text"}), 422, "invalid_request", "text"),
        (dict(json={"text": "x" * 5000}), 413, "file_too_large", "limit"),
    ]
    for kwargs, status, code, words in cases:
        headers = {**h, **kwargs.pop("headers", {})}
        r = client.post("/v1/classify", headers=headers, **kwargs)
        assert r.status_code == status, (code, r.text)
        body = r.json()
        assert body["code"] == code and words in body["message"], body
        assert "Traceback" not in r.text
    bad_screenings = [
        ({"text": "lens", "destination": "XX", "end_user_type": "research"}, "ISO 3166-1"),
        ({"text": "lens", "destination": "DE", "end_user_type": "hacker"}, "end_user_type"),
        ({"text": "lens", "destination": "DE"}, "end_user_type"),
    ]
    for payload, words in bad_screenings:
        r = client.post("/v1/screenings", json=payload, headers=h)
        assert r.status_code == 422 and words in r.json()["message"], r.json()
    assert client.get("/v1/screenings", headers=h).json()["total"] == 0  # nothing half-stored


def test_audit_verify_cli_detects_an_edited_row(service_factory, tmp_path, monkeypatch):
    db = tmp_path / "audit.db"
    client, keys = service_factory(database_url=f"sqlite:///{db}")
    for ref in ("A", "B", "C"):
        client.post(
            "/v1/screenings",
            json={
                "text": "\n".join(LENS_DATASHEET),
                "destination": "DE",
                "end_user_type": "research",
                "reference": ref,
            },
            headers=auth(keys["alice"]),
        )
    monkeypatch.setenv("SURVEILRISK_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("SURVEILRISK_DATA_DIR", str(tmp_path / "var"))  # where the audit key and anchor are
    runner = CliRunner()
    ok = runner.invoke(cli_app, ["audit", "verify"])
    assert ok.exit_code == 0 and "screenings: 3 rows, chain intact" in ok.output
    import sqlite3

    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER screenings_no_update")
    con.execute("UPDATE screenings SET action = 'proceed', reference = 'B2' WHERE reference = 'B'")
    con.commit()
    con.close()
    bad = runner.invoke(cli_app, ["audit", "verify"])
    assert bad.exit_code == 1 and "CHAIN BROKEN" in bad.output and "edited" in bad.output


def test_openapi_documents_the_api(service_factory):
    client, _ = service_factory()
    spec = client.get("/openapi.json").json()
    for path in (
        "/v1/classify",
        "/v1/classify/batch",
        "/v1/screenings",
        "/v1/screenings/{screening_id}",
        "/v1/screenings/{screening_id}/reviews",
        "/v1/feedback/export",
        "/v1/taxonomy",
        "/v1/model",
        "/v1/policy",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in spec["paths"], path
    content = spec["paths"]["/v1/screenings"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(content)


@pytest.mark.postgres
def test_screening_and_review_on_postgres(service_factory, postgres_db):
    client, keys = service_factory(database_url=postgres_db)
    r = client.post(
        "/v1/screenings",
        json={"text": "\n".join(FACE_DATASHEET), "destination": "CN", "end_user_type": "private_company"},
        headers=auth(keys["alice"]),
    )
    assert r.status_code == 201 and r.json()["decision"]["action"] == "block"
    sid = r.json()["id"]
    r = client.post(
        f"/v1/screenings/{sid}/reviews", json={"verdict": "confirm", "comment": "ok"}, headers=auth(keys["rita"])
    )
    assert r.status_code == 201
    assert client.get(f"/v1/screenings/{sid}", headers=auth(keys["ada"])).json()["reviews"][0]["verdict"] == "confirm"
