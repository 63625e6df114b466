"""While the model loads, the API already serves the bank; grading says 503 with Retry-After.

In-process through ``create_app(grader_factory=...)``: the factory blocks on an event the test controls,
so the "still loading" state lasts exactly as long as the test needs (no timing involved).
"""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from dlgrader.api.main import create_app
from dlgrader.config import get_settings


def test_the_bank_is_browsable_before_the_model_is_loaded(grader) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()

    def slow_factory(settings):  # type: ignore[no-untyped-def]
        release.wait(60)
        return grader

    app = create_app(get_settings(), grader_factory=slow_factory)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 503
        listed = client.get("/v1/questions", params={"topic": "regularisation"})
        assert listed.status_code == 200 and listed.json()["total"] > 0
        assert client.get("/v1/questions/dropout").json()["id"] == "dropout"
        assert client.get("/v1/topics").status_code == 200
        unknown_topic = client.get("/v1/questions", params={"topic": "astrology"})
        assert unknown_topic.status_code == 422 and unknown_topic.json()["error"]["code"] == "unknown_topic"
        waiting = client.post("/v1/grade", json={"question_id": "dropout", "answer": "It drops units."})
        assert waiting.status_code == 503 and waiting.headers["Retry-After"]
        release.set()
        app.state.holder.settle(30)
        assert client.get("/readyz").status_code == 200
        graded = client.post("/v1/grade", json={"question_id": "dropout", "answer": "It drops units."})
        assert graded.status_code == 200 and graded.json()["status"] == "graded"
