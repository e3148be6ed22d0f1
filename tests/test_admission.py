"""Admission control: a bounded queue in front of inference, 503 + Retry-After past it, health unaffected."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient

from classifier.baselines import KeywordModel
from classifier.predict import Classifier
from classifier.results import RawPrediction
from serving.app import create_app
from serving.auth import create_key
from serving.db import session_scope
from serving.settings import ServiceSettings
from tests.conftest import auth

TEXT = "The roadside unit reads number plates of passing cars and matches them against a hotlist."


class GatedModel(KeywordModel):
    """The keyword baseline, but each scoring call waits until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls: list[int] = []

    def score(self, texts: Sequence[str], progress: bool = False) -> list[RawPrediction]:
        self.entered.set()
        self.calls.append(len(texts))
        assert self.gate.wait(20), "the test never opened the gate"
        return super().score(texts, progress)


@pytest.fixture
def gated_service(tmp_path):
    model = GatedModel()
    settings = ServiceSettings(data_dir=tmp_path / "var", inference_queue_limit=2)
    app = create_app(settings, classifier=Classifier(model))
    with TestClient(app) as client:
        with session_scope(app.state.sr.sessions) as s:
            key = create_key(s, role="screener", name="alice")[1]
        yield client, key, model, app.state.sr.inference
    model.gate.set()


def _wait_for(cond, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.01)


def test_past_the_queue_limit_requests_get_503_with_retry_after(gated_service):
    client, key, model, queue = gated_service
    answers: list[int] = []

    def post(path: str, body: dict) -> None:
        answers.append(client.post(path, json=body, headers=auth(key)).status_code)

    first = [
        threading.Thread(target=post, args=("/v1/classify", {"text": TEXT})),
        threading.Thread(
            target=post,
            args=("/v1/screenings", {"text": TEXT, "destination": "BR", "end_user_type": "public_security"}),
        ),
    ]
    for t in first:
        t.start()
    _wait_for(lambda: queue.admitted == 2 and model.entered.is_set())

    over = client.post("/v1/classify", json={"text": TEXT}, headers=auth(key))
    assert over.status_code == 503
    assert int(over.headers["Retry-After"]) >= 1
    assert over.json()["code"] == "overloaded" and "inference_queue_limit" in over.json()["message"]
    over = client.post(
        "/v1/screenings",
        json={"text": TEXT, "destination": "BR", "end_user_type": "public_security"},
        headers=auth(key),
    )
    assert over.status_code == 503 and "Retry-After" in over.headers
    assert client.get("/healthz").status_code == 200  # answered while inference is stuck

    model.gate.set()
    for t in first:
        t.join(20)
    assert sorted(answers) == [200, 201]
    _wait_for(lambda: queue.admitted == 0)
    assert client.post("/v1/classify", json={"text": TEXT}, headers=auth(key)).status_code == 200


def test_waiting_requests_are_packed_into_one_model_call(gated_service):
    client, key, model, queue = gated_service
    results: list[dict] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(client.post("/v1/classify", json={"text": TEXT}, headers=auth(key)).json())
        )
        for _ in range(2)
    ]
    model.gate.clear()
    threads[0].start()
    _wait_for(lambda: model.entered.is_set())  # the first call holds the model
    threads[1].start()
    _wait_for(lambda: queue.admitted == 2)
    time.sleep(0.2)  # the second request reaches the queue behind the running call
    model.gate.set()
    for t in threads:
        t.join(20)
    assert len(results) == 2 and all(r["capabilities"] for r in results)
    assert model.calls[0] == 1 and sum(model.calls) == 2
