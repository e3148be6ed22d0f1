"""The compliance workflow over HTTP: decision in force, four eyes, fail-safe flags, search, worklist."""

from __future__ import annotations

import csv
import io

import pytest

from serving.auth import Principal
from serving.db import session_scope
from serving.errors import APIError
from serving.reviewing import record_review
from serving.schemas import ReviewCreate
from tests.conftest import auth
from tests.test_service import FACE_DATASHEET, LENS_DATASHEET

LENS = "\n".join(LENS_DATASHEET)
FACE = "\n".join(FACE_DATASHEET)


def _screen(client, key, text=LENS, destination="DE", end_user_type="private_company", **extra):
    r = client.post(
        "/v1/screenings",
        json={"text": text, "destination": destination, "end_user_type": end_user_type, **extra},
        headers=auth(key),
    )
    assert r.status_code == 201, r.text
    return r.json()


def _csv(client, key, **params):
    r = client.get("/v1/screenings/export.csv", params=params, headers=auth(key))
    assert r.status_code == 200, r.text
    return {row["id"]: row for row in csv.DictReader(io.StringIO(r.text))}


def test_decision_in_force_leads_everywhere(service_factory):
    client, keys = service_factory()
    rita = auth(keys["rita"])
    s = _screen(client, keys["alice"], reference="PO-1")
    assert s["decision_in_force"]["source"] == "policy" and s["decision_in_force"]["action"] == "proceed"
    assert s["model_decision"]["superseded"] is False and s["review_status"] == "open"

    correction = {
        "verdict": "correct",
        "tier": "limited",
        "action": "escalate",
        "comment": "The lens ships in a kit with a recorder.",
        "based_on": s["id"],
    }
    r = client.post(f"/v1/screenings/{s['id']}/reviews", json=correction, headers=rita)
    assert r.status_code == 422 and r.json()["code"] == "action_reason_required"
    assert "from proceed to escalate" in r.json()["message"]
    r = client.post(
        f"/v1/screenings/{s['id']}/reviews", json={**correction, "action_reason": "Kit includes a DVR."}, headers=rita
    )
    assert r.status_code == 201, r.text
    review = r.json()
    assert review["supersedes"] == s["id"] and review["changes"]["action"] == {"from": "proceed", "to": "escalate"}
    assert "Corrected" in review["message"] and "escalate" in review["message"]

    got = client.get(f"/v1/screenings/{s['id']}", headers=rita).json()
    dif = got["decision_in_force"]
    assert (dif["source"], dif["action"], dif["tier"]) == ("review", "escalate", "limited")
    assert dif["decided_by"]["name"] == "rita" and dif["record_id"] == review["id"]
    assert dif["action_reason"] == "Kit includes a DVR."
    assert got["model_decision"]["action"] == "proceed" and got["model_decision"]["superseded"] is True
    assert got["review_status"] == "decided"

    # history: columns and filters follow the decision in force
    items = client.get("/v1/screenings", params={"action": "escalate"}, headers=rita).json()["items"]
    assert [i["id"] for i in items] == [s["id"]]
    assert items[0]["decided_by"] == "rita" and items[0]["model_action"] == "proceed"
    assert client.get("/v1/screenings", params={"action": "proceed"}, headers=rita).json()["total"] == 0
    assert client.get("/v1/screenings", params={"tier": "limited"}, headers=rita).json()["total"] == 1

    row = _csv(client, keys["rita"], action="escalate")[s["id"]]
    assert list(_csv(client, keys["rita"], action="proceed")) == []
    assert (row["action_in_force"], row["tier_in_force"], row["decided_by"]) == ("escalate", "limited", "rita")
    assert (row["model_action"], row["model_decision_superseded"], row["review_status"]) == (
        "proceed",
        "yes",
        "decided",
    )

    report = client.get(f"/v1/screenings/{s['id']}/report", headers=rita).text
    assert report.index("Decision in force") < report.index("Original decision (superseded)")
    assert 'id="action-in-force">escalate<' in report and "rita (review)" in report

    # confirming confirms the decision in force, not the model's original values
    stale = client.post(
        f"/v1/screenings/{s['id']}/reviews",
        json={"verdict": "confirm", "comment": "ok", "based_on": s["id"]},
        headers=auth(keys["ada"]),
    )
    assert stale.status_code == 409 and stale.json()["code"] == "decision_changed"
    r = client.post(
        f"/v1/screenings/{s['id']}/reviews",
        json={"verdict": "confirm", "comment": "Agreed with rita.", "based_on": review["id"]},
        headers=auth(keys["ada"]),
    )
    assert r.status_code == 201 and r.json()["action"] == "escalate" and r.json()["tier"] == "limited"
    assert r.json()["message"].startswith("Confirmed the decision in force (rita's decision)")
    got = client.get(f"/v1/screenings/{s['id']}", headers=rita).json()
    assert got["decision_in_force"]["decided_by"]["name"] == "ada" and got["decision_in_force"]["action"] == "escalate"
    assert [x["verdict"] for x in got["reviews"]] == ["correct", "confirm"]

    # corrections keep flowing into the feedback export (the latest human review wins)
    lines = client.get("/v1/feedback/export", headers=auth(keys["ada"])).text.splitlines()
    assert len(lines) == 1 and '"tier": "limited"' in lines[0]


def test_four_eyes_and_its_setting(service_factory):
    client, keys = service_factory()
    own = _screen(client, keys["rita"])
    r = client.post(
        f"/v1/screenings/{own['id']}/reviews",
        json={"verdict": "confirm", "comment": "mine"},
        headers=auth(keys["rita"]),
    )
    assert r.status_code == 403 and r.json()["code"] == "four_eyes" and "someone else" in r.json()["message"]
    r = client.post(
        f"/v1/screenings/{own['id']}/reviews", json={"verdict": "confirm", "comment": "ok"}, headers=auth(keys["ada"])
    )
    assert r.status_code == 201

    solo, solo_keys = service_factory(four_eyes=False)
    mine = _screen(solo, solo_keys["rita"])
    r = solo.post(
        f"/v1/screenings/{mine['id']}/reviews",
        json={"verdict": "confirm", "comment": "solo team"},
        headers=auth(solo_keys["rita"]),
    )
    assert r.status_code == 201


def test_release_of_escalate_or_block_needs_the_reviewer_role(service_factory):
    client, keys = service_factory()
    s = _screen(client, keys["alice"], text=FACE, destination="BR", end_user_type="public_security")
    assert s["decision_in_force"]["action"] in {"escalate", "block"}
    state = client.app.state.sr
    screener = Principal(key_id=999, name="sam", role="screener")
    release = ReviewCreate(verdict="correct", action="proceed", comment="x", action_reason="customer says fine")
    with pytest.raises(APIError) as err, session_scope(state.sessions) as session:
        record_review(session, state.settings, state.classifier.taxonomy, screener, s["id"], release)
    assert err.value.status == 404  # a screener cannot even see a colleague's screening
    own = Principal(key_id=s["created_by"]["key_id"], name="alice", role="screener")
    lenient = state.settings.model_copy(update={"four_eyes": False})
    with pytest.raises(APIError) as err, session_scope(state.sessions) as session:
        record_review(session, lenient, state.classifier.taxonomy, own, s["id"], release)
    assert err.value.status == 403 and "reviewer role" in err.value.message
    r = client.post(
        f"/v1/screenings/{s['id']}/reviews",
        json={
            "verdict": "correct",
            "action": "proceed",
            "comment": "licence granted",
            "action_reason": "Licence DE-1.",
        },
        headers=auth(keys["rita"]),
    )
    assert r.status_code == 201 and r.json()["action"] == "proceed"


def test_unreliable_reading_never_proceeds_and_is_flagged(service_factory):
    client, keys = service_factory()
    short = _screen(client, keys["alice"], text="Compact lens, metal housing.", reference="SHORT")
    reliable = _screen(client, keys["alice"], reference="LONG")
    assert short["classification"]["review_required"] is True
    dif = short["decision_in_force"]
    assert dif["review_required"] is True and dif["action"] == "escalate"
    assert "little_text" in {r["code"] for r in dif["review_reasons"]}
    assert short["model_decision"]["review_required"] is True
    rita = auth(keys["rita"])
    flagged = client.get("/v1/screenings", params={"review_required": True}, headers=rita).json()
    assert [i["reference"] for i in flagged["items"]] == ["SHORT"] and flagged["items"][0]["review_required"]
    rows = _csv(client, keys["rita"])
    assert rows[short["id"]]["review_required"] == "yes" and "little_text" in rows[short["id"]]["review_reasons"]
    assert rows[reliable["id"]]["review_required"] == "no"
    r = client.post(
        f"/v1/screenings/{short['id']}/reviews", json={"verdict": "confirm", "comment": "read it"}, headers=rita
    )
    assert r.status_code == 201
    got = client.get(f"/v1/screenings/{short['id']}", headers=rita).json()
    assert got["decision_in_force"]["review_required"] is False and got["decision_in_force"]["action"] == "escalate"


def test_search_filters_and_screening_context(service_factory):
    client, keys = service_factory()
    a = _screen(
        client,
        keys["alice"],
        reference="PO-2026-118",
        end_user_name="Acme Optics GmbH",
        control_list_entry="none (EAR99)",
        licence_reference="LIC-77",
        party_screening="done",
        party_screening_by="Sanctions desk",
    )
    _screen(client, keys["alice"], reference="PO-9", destination="FR", end_user_type="research")
    rita = auth(keys["rita"])
    for q, expected in (("acme", {a["id"]}), ("2026-1", {a["id"]}), ("fr", None), ("zzz", set())):
        got = client.get("/v1/screenings", params={"q": q}, headers=rita).json()["items"]
        if expected is not None:
            assert {i["id"] for i in got} == expected, q
    assert client.get("/v1/screenings", params={"q": "FR"}, headers=rita).json()["items"][0]["reference"] == "PO-9"
    assert client.get("/v1/screenings", params={"end_user_type": "research"}, headers=rita).json()["total"] == 1
    assert client.get("/v1/screenings", params={"reviewed": False}, headers=rita).json()["total"] == 2
    assert client.get("/v1/screenings", params={"reviewed": True}, headers=rita).json()["total"] == 0
    got = client.get(f"/v1/screenings/{a['id']}", headers=rita).json()
    assert got["party_screening"] == {"outcome": "done", "by": "Sanctions desk"}
    assert (got["control_list_entry"], got["licence_reference"]) == ("none (EAR99)", "LIC-77")
    row = _csv(client, keys["rita"], q="acme")[a["id"]]
    assert row["licence_reference"] == "LIC-77" and row["party_screening"] == "done"
    r = client.post(
        "/v1/screenings",
        json={"text": LENS, "destination": "DE", "end_user_type": "research", "party_screening": "maybe"},
        headers=auth(keys["alice"]),
    )
    assert r.status_code == 422 and "party_screening" in r.json()["message"]


def test_a_colleagues_screening_reads_as_missing_or_forbidden(service_factory):
    client, keys = service_factory()
    s = _screen(client, keys["alice"])
    r = client.get(f"/v1/screenings/{s['id']}", headers=auth(keys["bob"]))
    assert r.status_code == 404 and "does not exist or you lack access" in r.json()["message"]


def test_worklist_ranks_by_risk_and_uncertainty_and_claims(service_factory):
    client, keys = service_factory()
    face = _screen(client, keys["alice"], text=FACE, destination="BR", end_user_type="public_security")
    lens = _screen(client, keys["alice"])
    short = _screen(client, keys["alice"], text="Compact lens, metal housing.")
    own = _screen(client, keys["rita"])
    rita, ada = auth(keys["rita"]), auth(keys["ada"])

    assert client.get("/v1/worklist", headers=auth(keys["alice"])).status_code == 403
    page = client.get("/v1/worklist", headers=rita).json()
    ids = [i["screening"]["id"] for i in page["items"]]
    assert own["id"] not in ids  # four eyes: someone else reviews rita's own screening
    assert set(ids) == {face["id"], lens["id"], short["id"]} and ids[-1] == lens["id"]
    prios = [i["priority"] for i in page["items"]]
    assert prios == sorted(prios, reverse=True) and prios[-1] < prios[0]
    flagged = next(i for i in page["items"] if i["screening"]["id"] == short["id"])
    assert flagged["uncertainty"] == 1.0 and any("needs human review" in w for w in flagged["why"])
    assert page["counts"] == {"open": 4, "in_review": 0, "decided": 0}

    r = client.post(f"/v1/worklist/{face['id']}/claim", headers=rita)
    assert r.status_code == 200 and r.json()["reviewer_name"] == "rita"
    r = client.post(f"/v1/worklist/{face['id']}/claim", headers=ada)
    assert r.status_code == 409 and "rita" in r.json()["message"]
    r = client.post(f"/v1/screenings/{face['id']}/reviews", json={"verdict": "confirm", "comment": "x"}, headers=ada)
    assert r.status_code == 409 and r.json()["code"] == "claimed"
    assert client.post(f"/v1/worklist/{own['id']}/claim", headers=rita).json()["code"] == "four_eyes"
    claimed = client.get("/v1/worklist", params={"status": "in_review"}, headers=ada).json()
    assert [i["screening"]["id"] for i in claimed["items"]] == [face["id"]]
    assert claimed["items"][0]["claim"]["reviewer_name"] == "rita"
    assert claimed["counts"] == {"open": 3, "in_review": 1, "decided": 0}
    assert client.get(f"/v1/screenings/{face['id']}", headers=ada).json()["review_status"] == "in_review"

    # an expired claim no longer holds anyone off
    from sqlalchemy import text

    with session_scope(client.app.state.sr.sessions) as session:
        session.execute(text("UPDATE claims SET expires_at = '2000-01-01 00:00:00'"))
    assert client.post(f"/v1/worklist/{face['id']}/claim", headers=ada).status_code == 200
    r = client.post(f"/v1/screenings/{face['id']}/reviews", json={"verdict": "confirm", "comment": "ok"}, headers=ada)
    assert r.status_code == 201
    after = client.get("/v1/worklist", headers=ada).json()
    assert face["id"] not in [i["screening"]["id"] for i in after["items"]]
    assert after["counts"] == {"open": 3, "in_review": 0, "decided": 1}
    assert client.post(f"/v1/worklist/{face['id']}/claim", headers=rita).json()["code"] == "already_decided"


STRICT_POLICY = """
name: strict test policy
default_group: rest_of_world
destination_groups: {}
rules:
  - tiers: [critical]
    action: block
    reason: Critical.
  - tiers: [high, limited, minimal]
    action: escalate
    reason: Everything else is escalated while the new policy is tried out.
"""


def test_rescreen_dry_run_then_apply_keeps_the_chain(service_factory, tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from surveilrisk.cli import app as cli_app

    db = tmp_path / "rescreen.db"
    client, keys = service_factory(database_url=f"sqlite:///{db}")
    plain = _screen(client, keys["alice"], reference="A")
    reviewed = _screen(client, keys["alice"], reference="B", end_user_type="research")
    rita = auth(keys["rita"])
    client.post(f"/v1/screenings/{reviewed['id']}/reviews", json={"verdict": "confirm", "comment": "ok"}, headers=rita)
    policy = tmp_path / "strict.yaml"
    policy.write_text(STRICT_POLICY)
    monkeypatch.setenv("SURVEILRISK_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("SURVEILRISK_DATA_DIR", str(tmp_path / "var"))  # the service's audit key and anchor
    runner = CliRunner()
    args = ["rescreen", "--model", "shipped", "--policy", str(policy), "--format", "json"]

    dry = runner.invoke(cli_app, args)
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.stdout)
    flips = {f["screening_id"]: f for f in report["flips"]}
    assert report["scanned"] == 2 and report["applied"] == 0 and set(flips) == {plain["id"], reviewed["id"]}
    assert (flips[plain["id"]]["action_before"], flips[plain["id"]]["action_after"]) == ("proceed", "escalate")
    assert flips[plain["id"]]["applies"] and not flips[reviewed["id"]]["applies"]
    assert flips[reviewed["id"]]["decided_by"] == "rita"
    assert client.get(f"/v1/screenings/{plain['id']}", headers=rita).json()["reviews"] == []  # nothing written

    table = runner.invoke(cli_app, ["rescreen", "--policy", str(policy), "--since", "2000-01-01"])
    assert table.exit_code == 0 and "proceed → escalate" in table.stdout and "kept: reviewed by rita" in table.stdout
    csv_out = runner.invoke(cli_app, ["rescreen", "--policy", str(policy), "--format", "csv"])
    assert csv_out.stdout.splitlines()[0].startswith("screening_id,created_at")
    assert runner.invoke(cli_app, [*args, "--since", "2999-01-01"]).stdout.count('"screening_id"') == 0

    applied = runner.invoke(cli_app, [*args, "--apply", "--by", "lead"])
    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.stdout)["applied"] == 1
    got = client.get(f"/v1/screenings/{plain['id']}", headers=rita).json()
    dif = got["decision_in_force"]
    assert (dif["source"], dif["action"], dif["decided_by"]["name"]) == ("rescreen", "escalate", "rescreen (lead)")
    assert got["reviews"][0]["kind"] == "rescreen" and got["reviews"][0]["supersedes"] == plain["id"]
    assert got["review_status"] == "open"  # a re-screening is not a person's review
    kept = client.get(f"/v1/screenings/{reviewed['id']}", headers=rita).json()["decision_in_force"]
    assert kept["source"] == "review" and kept["decided_by"]["name"] == "rita"
    verify = runner.invoke(cli_app, ["audit", "verify"])
    assert verify.exit_code == 0 and "reviews: 2 rows, chain intact" in verify.output
    again = json.loads(runner.invoke(cli_app, args).stdout)
    assert [f["screening_id"] for f in again["flips"]] == [reviewed["id"]]


def test_pdf_evidence_carries_its_page_in_the_api_and_the_report(service_factory):
    from tests.conftest import make_paged_pdf
    from tests.test_service import FACE_DATASHEET, LENS_DATASHEET

    client, keys = service_factory()
    data = make_paged_pdf([LENS_DATASHEET, FACE_DATASHEET])
    r = client.post("/v1/classify", files={"file": ("vx9.pdf", data)}, headers=auth(keys["alice"]))
    assert r.status_code == 200, r.text
    face = next(d for d in r.json()["capabilities"] if d["id"] == "face_identification")
    assert face["evidence"] and {e["page"] for e in face["evidence"]} == {2}

    r = client.post(
        "/v1/screenings",
        files={"file": ("vx9.pdf", data)},
        data={"destination": "BR", "end_user_type": "public_security"},
        headers=auth(keys["alice"]),
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    stored = next(d for d in r.json()["classification"]["capabilities"] if d["id"] == "face_identification")
    assert stored["evidence"][0]["page"] == 2
    report = client.get(f"/v1/screenings/{sid}/report", headers=auth(keys["alice"])).text
    assert "(p. 2)" in report and "(p. 1)" not in report

    text_only = client.post("/v1/classify", json={"text": FACE}, headers=auth(keys["alice"])).json()
    assert all("page" not in e for d in text_only["capabilities"] for e in d["evidence"])


def test_rescreen_api_dry_run_csv_then_apply_keeps_the_chain(service_factory):
    from serving.audit import verify

    client, keys = service_factory()
    plain = _screen(client, keys["alice"], reference="=A")
    reviewed = _screen(client, keys["alice"], reference="B", end_user_type="research")
    rita, ada = auth(keys["rita"]), auth(keys["ada"])
    client.post(f"/v1/screenings/{reviewed['id']}/reviews", json={"verdict": "confirm", "comment": "ok"}, headers=rita)

    # admins only; bad policies are a clear 422
    assert client.post("/v1/rescreen", json={}, headers=rita).status_code == 403
    bad = client.post("/v1/rescreen", json={"policy_yaml": "rules: [1"}, headers=ada)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_policy" and "YAML" in bad.json()["message"]
    alias = client.post("/v1/rescreen", json={"policy_yaml": "a: &x [1]\nb: *x\n"}, headers=ada)
    assert alias.status_code == 422 and "aliases" in alias.json()["message"]
    assert client.post("/v1/rescreen", json={"model": "nope"}, headers=ada).status_code == 422

    same = client.post("/v1/rescreen", json={}, headers=ada)  # the active policy and model: nothing flips
    assert same.status_code == 200, same.text
    assert same.json()["scanned"] == 2 and same.json()["flips"] == []

    dry = client.post("/v1/rescreen", json={"policy_yaml": STRICT_POLICY}, headers=ada)
    assert dry.status_code == 200, dry.text
    report = dry.json()
    flips = {f["screening_id"]: f for f in report["flips"]}
    assert report["applied"] == 0 and report["policy_version"] != same.json()["policy_version"]
    assert (flips[plain["id"]]["action_before"], flips[plain["id"]]["action_after"]) == ("proceed", "escalate")
    assert flips[plain["id"]]["applies"] and not flips[reviewed["id"]]["applies"]
    assert client.get(f"/v1/screenings/{plain['id']}", headers=rita).json()["reviews"] == []  # nothing written
    assert (
        client.post("/v1/rescreen", json={"policy_yaml": STRICT_POLICY, "since": "2999-01-01"}, headers=ada).json()[
            "scanned"
        ]
        == 0
    )

    # an uploaded policy file, CSV out
    r = client.post(
        "/v1/rescreen",
        params={"format": "csv"},
        files={"policy": ("strict.yaml", STRICT_POLICY.encode())},
        data={"model": "loaded"},
        headers=ada,
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = {row["screening_id"]: row for row in csv.DictReader(io.StringIO(r.text))}
    assert set(rows) == set(flips) and rows[plain["id"]]["action_after"] == "escalate"
    assert rows[plain["id"]]["reference"] == "'=A"  # a spreadsheet does not run it

    applied = client.post("/v1/rescreen", json={"policy_yaml": STRICT_POLICY, "apply": True}, headers=ada)
    assert applied.status_code == 200 and applied.json()["applied"] == 1
    record = next(f for f in applied.json()["flips"] if f["screening_id"] == plain["id"])["applied_record"]
    got = client.get(f"/v1/screenings/{plain['id']}", headers=rita).json()
    dif = got["decision_in_force"]
    assert (dif["source"], dif["action"], dif["decided_by"]["name"]) == ("rescreen", "escalate", "rescreen (ada)")
    assert dif["decided_by"]["key_id"] != 0  # the admin key that applied it
    assert dif["record_id"] == record and got["reviews"][0]["supersedes"] == plain["id"]
    kept = client.get(f"/v1/screenings/{reviewed['id']}", headers=rita).json()["decision_in_force"]
    assert kept["source"] == "review"
    state = client.app.state.sr
    with session_scope(state.sessions) as s:
        audit = verify(s, state.keyring, state.settings.effective_audit_anchor_file)
    assert audit.ok, (audit.problems, [c.problem for c in audit.chains])
    assert {c.table: c.rows for c in audit.chains}["reviews"] == 2
    again = client.post("/v1/rescreen", json={"policy_yaml": STRICT_POLICY, "apply": True}, headers=ada).json()
    assert again["applied"] == 0 and [f["screening_id"] for f in again["flips"]] == [reviewed["id"]]
