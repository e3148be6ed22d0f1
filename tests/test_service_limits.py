"""The app in-process with the keyword model: deadline, write-lock and key-event behaviour of the routes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.conftest import auth

TEXT = "The VX-9 compares every face with a police watch list in real time."


@pytest.fixture
def start(tmp_path):
    from classifier.predict import Classifier
    from serving.app import create_app
    from serving.settings import ServiceSettings

    clients = []

    def _start(**overrides):
        settings = ServiceSettings(data_dir=tmp_path / "var", model="keyword", **overrides)
        client = TestClient(create_app(settings, classifier=Classifier.load("keyword")))
        client.__enter__()
        clients.append(client)
        from serving.auth import create_key
        from serving.db import session_scope

        with session_scope(client.app.state.sr.sessions) as s:
            keys = {n: create_key(s, role=r, name=n)[1] for r, n in (("screener", "alice"), ("admin", "ada"))}
        return client, keys

    yield _start
    for c in clients:
        c.__exit__(None, None, None)


def test_past_the_deadline_answers_504_and_stores_nothing(start):
    client, keys = start(request_timeout_s=0.000001)
    body = {"text": TEXT, "destination": "DE", "end_user_type": "research"}
    r = client.post("/v1/screenings", json=body, headers=auth(keys["alice"]))
    assert r.status_code == 504 and r.json()["code"] == "deadline_exceeded"
    assert "nothing was stored" in r.json()["message"]
    from serving.db import read_scope
    from serving.tables import Screening

    with read_scope(client.app.state.sr.sessions) as s:
        assert s.query(Screening).count() == 0


def test_key_role_change_is_an_api_call_and_an_audit_event(start):
    client, keys = start()
    ada = auth(keys["ada"])
    kid = client.post("/v1/keys", json={"role": "screener", "name": "carol"}, headers=ada).json()["id"]
    r = client.patch(f"/v1/keys/{kid}", json={"role": "reviewer"}, headers=ada)
    assert r.status_code == 200 and r.json()["role"] == "reviewer"
    assert client.patch(f"/v1/keys/{kid}", json={"role": "root"}, headers=ada).status_code == 422
    from serving.audit import verify
    from serving.db import read_scope

    state = client.app.state.sr
    with read_scope(state.sessions) as s:
        report = verify(s, state.keyring, state.settings.effective_audit_anchor_file)
        events = [e for (e,) in s.execute(text("SELECT event FROM audit_events"))]
    assert report.ok, report.problems
    assert events.count("key_role_changed") == 1 and events.count("key_created") == 3


def test_chunked_body_over_the_limit_is_refused_while_streaming():
    """Drive the middleware with a body of 1,000 chunks and no Content-Length; it must stop reading early."""
    import asyncio

    from serving.limits import RequestLimits
    from serving.settings import ServiceSettings

    read = []
    sent = []

    async def receive():
        read.append(1)
        return {"type": "http.request", "body": b"a" * 65536, "more_body": len(read) < 1000}

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):  # reads the whole body, as a JSON route would
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    scope = {"type": "http", "method": "POST", "path": "/v1/classify", "headers": []}
    middleware = RequestLimits(app, ServiceSettings(max_request_bytes=256 * 1024))
    asyncio.run(middleware(scope, receive, send))
    assert sent[0]["status"] == 413 and b"payload_too_large" in sent[1]["body"]
    assert len(read) == 5  # 4 chunks fit the 256 KB limit; the 5th passed it and reading stopped
