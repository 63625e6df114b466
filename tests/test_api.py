"""The HTTP API over real HTTP: ``dlgrader serve`` runs as a subprocess on a loopback port.

Two servers per module: an open one (no keys, no rate limit, small limits) and a locked one (API keys,
a rate limit of 5 a minute, one CORS origin). Both use the real model and the session's FAISS index.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from apiserver import Server, running

pytestmark = pytest.mark.slow

MAX_ANSWER_CHARS = 6000
MAX_BATCH = 40
MAX_BODY = 50_000
KEYS = ("alpha-key-123", "beta-key-456", "gamma-key-789")
ORIGIN = "https://app.example"
GOOD_ANSWER = ("Dropout randomly switches off a fraction of the neurons at each training step, so the "
               "network cannot rely on any single unit and learns redundant features. At inference all "
               "neurons are used and their outputs are scaled.")


@pytest.fixture(scope="module")
def open_server(grader, session_index_dir: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Server]:
    # `grader` makes sure the session index exists before any server process looks for it
    with running({"DLGRADER_INDEX_DIR": str(session_index_dir), "DLGRADER_RATE_LIMIT_PER_MINUTE": "0",
                  "DLGRADER_MAX_ANSWER_CHARS": str(MAX_ANSWER_CHARS),
                  "DLGRADER_MAX_BATCH_ITEMS": str(MAX_BATCH), "DLGRADER_MAX_BODY_BYTES": str(MAX_BODY)},
                 workdir=tmp_path_factory.mktemp("open-server")) as server:
        yield server


@pytest.fixture(scope="module")
def locked_server(grader, session_index_dir: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Server]:
    with running({"DLGRADER_INDEX_DIR": str(session_index_dir), "DLGRADER_API_KEYS": ",".join(KEYS),
                  "DLGRADER_RATE_LIMIT_PER_MINUTE": "5", "DLGRADER_CORS_ORIGINS": ORIGIN},
                 workdir=tmp_path_factory.mktemp("locked-server")) as server:
        yield server


@pytest.fixture
def api(open_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=open_server.url, timeout=120) as client:
        yield client


@pytest.fixture
def locked(locked_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=locked_server.url, timeout=120) as client:
        yield client


def error_of(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """Assert an error response: the status, the one error shape, and (optionally) the code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"] and "Traceback" not in response.text
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


# ---------------------------------------------------------------- health, request ids, docs


def test_health_ready_and_request_id(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz").json()
    assert ready["status"] == "ready" and ready["questions"] > 100 and ready["backend"] == "onnx"
    echoed = api.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert echoed.headers["x-request-id"] == "trace-42"
    replaced = api.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert len(replaced.headers["x-request-id"]) == 32  # a fresh id replaces an unusable one


def test_docs_and_openapi_have_examples_and_limits(api: httpx.Client) -> None:
    page = api.get("/docs").text
    assert "/docs/assets/swagger-ui-bundle.js" in page and "cdn." not in page  # works offline
    assert api.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    spec = api.get("/openapi.json").json()
    operations = [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]
    assert len(operations) >= 8
    for path, method, op in operations:
        assert op["responses"]["200"]["content"]["application/json"].get("example"), (method, path)
    schemas = spec["components"]["schemas"]
    assert schemas["GradeIn"]["properties"]["answer"]["maxLength"] == MAX_ANSWER_CHARS
    assert schemas["BatchIn"]["properties"]["items"]["maxItems"] == MAX_BATCH
    assert schemas["GradeIn"]["examples"] and schemas["BatchIn"]["examples"]
    assert "securitySchemes" not in spec.get("components", {})  # no keys configured here


# ---------------------------------------------------------------- grading


def test_grade_by_id_matches_the_engine(api: httpx.Client, product_grader) -> None:  # type: ignore[no-untyped-def]
    response = api.post("/v1/grade", json={"question_id": "dropout", "answer": GOOD_ANSWER})
    assert response.status_code == 200
    result = response.json()
    assert (result["status"], result["question_id"], result["matched_by"]) == ("graded", "dropout", "id")
    assert 0 <= result["score"] <= 100 and result["summary"] and result["feedback"] is None
    # the service returns what the engine computes, unchanged
    engine = product_grader.grade(GOOD_ANSWER, question_id="dropout")
    assert result["score"] == engine.score and result["grade"] == engine.grade
    assert [k["verdict"] for k in result["key_points"]] == [k.verdict for k in engine.key_points]
    assert [f["code"] for f in result["flags"]] == engine.flag_codes


def test_grade_by_free_text_question(api: httpx.Client) -> None:
    result = api.post("/v1/grade", json={"question": "How does dropout help a neural network?",
                                         "answer": GOOD_ANSWER}).json()
    assert result["status"] == "graded" and result["matched_by"] == "text"
    assert result["question_id"].startswith("dropout")


def test_unknown_question_is_a_normal_result(api: httpx.Client) -> None:
    free = api.post("/v1/grade", json={"question": "What is the capital of France?", "answer": "Paris."})
    assert free.status_code == 200
    assert free.json()["status"] == "unknown_question" and free.json()["score"] is None
    assert free.json()["suggestions"]
    by_id = api.post("/v1/grade", json={"question_id": "dropuot", "answer": "Some answer."})
    assert by_id.status_code == 200 and by_id.json()["status"] == "unknown_question"
    assert "dropout" in [s["question_id"] for s in by_id.json()["suggestions"]]


def test_feedback_requested_without_an_llm_says_unavailable(api: httpx.Client) -> None:
    plain = api.post("/v1/grade", json={"question_id": "dropout", "answer": GOOD_ANSWER}).json()
    response = api.post("/v1/grade", json={"question_id": "dropout", "answer": GOOD_ANSWER, "feedback": True})
    assert response.status_code == 200
    result = response.json()
    assert isinstance(result["feedback"], dict) and result["feedback"]
    assert result["feedback"].get("available") is False
    assert result["score"] == plain["score"]


def test_empty_and_very_long_answers(api: httpx.Client) -> None:
    empty = api.post("/v1/grade", json={"question_id": "relu", "answer": ""})
    assert empty.status_code == 200
    assert empty.json()["score"] == 0 and "empty" in [f["code"] for f in empty.json()["flags"]]
    long_answer = " ".join(["ReLU outputs zero for negative inputs and the input itself otherwise."] * 70)
    assert len(long_answer) <= MAX_ANSWER_CHARS
    truncated = api.post("/v1/grade", json={"question_id": "relu", "answer": long_answer})
    assert truncated.status_code == 200
    assert "truncated" in [f["code"] for f in truncated.json()["flags"]]
    huge = api.post("/v1/grade", json={"question_id": "relu", "answer": "x" * (MAX_ANSWER_CHARS + 1)})
    error = error_of(huge, 422, "answer_too_long")
    assert error["details"]["max_answer_chars"] == MAX_ANSWER_CHARS
    assert str(MAX_ANSWER_CHARS) in error["message"]


def test_batch_keeps_order_and_isolates_bad_items(api: httpx.Client) -> None:
    items = [
        {"id": "good", "question_id": "dropout", "answer": GOOD_ANSWER, "label": 5},
        {"id": "wrong-type", "question_id": "dropout", "answer": 42},
        {"id": "unknown", "question": "What is the capital of France?", "answer": "Paris."},
        {"id": "no-question", "answer": "An answer to nothing."},
        {"id": 7, "question_id": "relu", "answer": "ReLU returns max(0, x)."},
        "not an object",
        {"id": "too-long", "question_id": "relu", "answer": "y" * (MAX_ANSWER_CHARS + 1)},
        {"id": "extra", "question_id": "relu", "answer": "ReLU", "colour": "red"},
    ]
    response = api.post("/v1/grade/batch", json={"items": items})
    assert response.status_code == 200
    body = response.json()
    statuses = [(r["id"], r["status"]) for r in body["results"]]
    assert statuses == [("good", "graded"), ("wrong-type", "invalid"), ("unknown", "unknown_question"),
                        ("no-question", "invalid"), ("7", "graded"), (None, "invalid"),
                        ("too-long", "invalid"), ("extra", "invalid")]
    assert (body["count"], body["graded"], body["unknown_question"], body["invalid"]) == (8, 2, 1, 5)
    assert body["results"][0]["label"] == 5
    assert "answer" in body["results"][1]["error"] and "question" in body["results"][3]["error"]
    assert "colour" in body["results"][7]["error"]
    # the same answer graded alone and in a batch gets the same score
    alone = api.post("/v1/grade", json={"question_id": "dropout", "answer": GOOD_ANSWER}).json()
    assert body["results"][0]["score"] == alone["score"]


def test_batch_limits(api: httpx.Client) -> None:
    items = [{"question_id": "relu", "answer": "ReLU."}] * (MAX_BATCH + 1)
    error = error_of(api.post("/v1/grade/batch", json={"items": items}), 422, "too_many_items")
    assert error["details"] == {"max_batch_items": MAX_BATCH, "items": MAX_BATCH + 1}
    error_of(api.post("/v1/grade/batch", json={"items": []}), 422, "validation_error")
    error_of(api.post("/v1/grade/batch", json={"items": "abc"}), 422, "validation_error")


def test_health_answers_while_a_big_batch_is_graded(api: httpx.Client, open_server: Server) -> None:
    items = [{"question_id": "dropout", "answer": GOOD_ANSWER}] * MAX_BATCH
    outcome: dict[str, int] = {}

    def run_batch() -> None:
        with httpx.Client(base_url=open_server.url, timeout=300) as other:
            outcome["status"] = other.post("/v1/grade/batch", json={"items": items}).status_code

    worker = threading.Thread(target=run_batch)
    worker.start()
    try:
        # the batch grades for seconds; health checks must not queue behind it
        answered_while_busy = 0
        for _ in range(5):
            assert api.get("/healthz").status_code == 200
            answered_while_busy += worker.is_alive()
        assert answered_while_busy == 5
    finally:
        worker.join(300)
    assert outcome["status"] == 200


def test_feedback_from_a_configured_llm_and_from_a_failing_one(grader, session_index_dir: Path,  # type: ignore[no-untyped-def]
                                                                tmp_path: Path) -> None:
    from fake_llm_server import FakeLLMServer, Reply, Status, judge

    with FakeLLMServer(default=Reply(judge())) as llm:
        env = {"DLGRADER_INDEX_DIR": str(session_index_dir), "DLGRADER_LLM_BASE_URL": llm.url,
               "DLGRADER_LLM_MODEL": "fake-judge", "DLGRADER_LLM_MAX_RETRIES": "0",
               "DLGRADER_LLM_TIMEOUT": "5"}
        with running(env, workdir=tmp_path) as server, httpx.Client(base_url=server.url, timeout=120) as api:
            body = {"question_id": "dropout", "answer": GOOD_ANSWER, "feedback": True}
            good = api.post("/v1/grade", json=body)
            assert good.status_code == 200 and good.json()["feedback"]["available"] is True
            llm.default = Status(500)  # the LLM breaks: the grade still comes back
            broken = api.post("/v1/grade", json={**body, "answer": GOOD_ANSWER + " Also at test time."})
            llm.default = Reply(judge())
            assert broken.status_code == 200 and broken.json()["status"] == "graded"
            assert broken.json()["feedback"]["available"] is False and broken.json()["feedback"]["reason"]
            batch = api.post("/v1/grade/batch", json={"feedback": True, "items": [
                {"id": "a", "question_id": "relu", "answer": "ReLU returns max(0, x)."},
                {"id": "b", "question": "What is the capital of France?", "answer": "Paris."}]})
            assert batch.status_code == 200
            a, b = batch.json()["results"]
            assert a["feedback"]["available"] is True and b["feedback"] is None


# ---------------------------------------------------------------- bad input


def test_bad_json_wrong_types_and_missing_fields(api: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    truncated_json = api.post("/v1/grade", content=b'{"question_id": "dropout"', headers=headers)
    error = error_of(truncated_json, 400, "invalid_json")
    assert "JSON" in error["message"]
    error = error_of(api.post("/v1/grade", json={"question_id": 5, "answer": ["x"]}), 422, "validation_error")
    fields = {p["field"] for p in error["details"]["errors"]}
    assert fields == {"body.question_id", "body.answer"}
    error = error_of(api.post("/v1/grade", json={"answer": "x"}), 422, "validation_error")
    assert "question_id" in error["message"]
    error_of(api.post("/v1/grade", json={"question_id": "relu"}), 422, "validation_error")
    error_of(api.post("/v1/grade", json=[1, 2]), 422, "validation_error")
    error_of(api.post("/v1/grade", json=None), 422, "validation_error")
    error_of(api.post("/v1/grade", json={"question_id": "relu", "answer": "x", "bogus": 1}), 422)
    error_of(api.post("/v1/grade", content=b"", headers=headers), 422, "validation_error")


def test_non_utf8_bytes_and_non_json_bodies(api: httpx.Client) -> None:
    raw = b'{"question_id": "relu", "answer": "\xff\xfe caf\xe9"}'
    error = error_of(api.post("/v1/grade", content=raw, headers={"Content-Type": "application/json"}),
                     400, "invalid_encoding")
    assert error["details"]["offset"] == raw.index(b"\xff")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    error_of(api.post("/v1/grade", content=b"answer=x", headers=form), 415, "unsupported_media_type")
    # no Content-Type at all is read as JSON (curl --data-binary without -H)
    untyped = api.post("/v1/grade", content=json.dumps({"question_id": "relu", "answer": "ReLU."}).encode())
    assert untyped.status_code == 200 and untyped.json()["status"] == "graded"


def test_body_size_limit(api: httpx.Client) -> None:
    big = json.dumps({"question_id": "relu", "answer": "z" * (MAX_BODY + 10)}).encode()
    error = error_of(api.post("/v1/grade", content=big, headers={"Content-Type": "application/json"}),
                     413, "payload_too_large")
    assert error["details"]["max_body_bytes"] == MAX_BODY

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count what arrives
        yield big[: len(big) // 2]
        yield big[len(big) // 2:]

    error_of(api.post("/v1/grade", content=chunks(), headers={"Content-Type": "application/json"}),
             413, "payload_too_large")


def test_unknown_routes_and_methods(api: httpx.Client) -> None:
    error_of(api.get("/v1/nothing-here"), 404, "not_found")
    error_of(api.delete("/v1/grade"), 405, "method_not_allowed")
    error_of(api.get("/v1/grade"), 405, "method_not_allowed")


# ---------------------------------------------------------------- questions and topics


def test_questions_filters_and_pagination(api: httpx.Client) -> None:
    everything = api.get("/v1/questions", params={"limit": 100}).json()
    total = everything["total"]
    assert total > 100 and everything["next_offset"] == 100
    seen, offset = [], 0
    while offset is not None:
        page = api.get("/v1/questions", params={"limit": 30, "offset": offset}).json()
        seen += [q["id"] for q in page["items"]]
        offset = page["next_offset"]
    assert len(seen) == total == len(set(seen))
    cnn = api.get("/v1/questions", params={"topic": "cnn", "difficulty": "beginner"}).json()
    assert cnn["items"] and all(q["topic"] == "cnn" and q["difficulty"] == "beginner" for q in cnn["items"])
    from_002 = api.get("/v1/questions", params={"source": "002", "limit": 100}).json()
    assert from_002["items"]
    assert all(any(d.startswith("002") for d in q["documents"]) for q in from_002["items"])
    assert from_002["total"] < total
    relu = api.get("/v1/questions", params={"q": "relu"}).json()
    assert "relu" in [q["id"] for q in relu["items"]]
    assert all("relu" in (q["id"] + q["question"] + " ".join(q["aliases"])).lower() for q in relu["items"])
    assert "reference_answer" not in relu["items"][0]
    past_end = api.get("/v1/questions", params={"offset": 10_000}).json()
    assert past_end["items"] == [] and past_end["next_offset"] is None


def test_question_filter_errors(api: httpx.Client) -> None:
    error = error_of(api.get("/v1/questions", params={"topic": "cnnz"}), 422, "unknown_topic")
    assert "cnn" in error["details"]["known"]
    error_of(api.get("/v1/questions", params={"source": "999"}), 422, "unknown_source")
    error_of(api.get("/v1/questions", params={"difficulty": "expert"}), 422, "validation_error")
    error_of(api.get("/v1/questions", params={"limit": 0}), 422, "validation_error")
    error_of(api.get("/v1/questions", params={"limit": "ten"}), 422, "validation_error")


def test_question_detail_and_unknown_id(api: httpx.Client) -> None:
    detail = api.get("/v1/questions/dropout").json()
    assert detail["id"] == "dropout" and detail["reference_answer"]
    assert len(detail["key_points"]) == detail["key_point_count"] >= 2 and detail["sources"]
    error = error_of(api.get("/v1/questions/dropuot"), 404, "question_not_found")
    assert "dropout" in error["details"]["suggestions"] and "dropout" in error["message"]


def test_random_question(api: httpx.Client) -> None:
    first = api.get("/v1/questions/random", params={"topic": "cnn", "seed": 11}).json()
    again = api.get("/v1/questions/random", params={"topic": "cnn", "seed": 11}).json()
    assert first == again and first["topic"] == "cnn" and "reference_answer" not in first
    ids = {api.get("/v1/questions/random", params={"seed": s}).json()["id"] for s in range(8)}
    assert len(ids) > 1
    error_of(api.get("/v1/questions/random", params={"topic": "llm_systems", "difficulty": "beginner"}),
             404, "no_question")


def test_topics(api: httpx.Client) -> None:
    topics = api.get("/v1/topics").json()["topics"]
    total = api.get("/v1/questions", params={"limit": 1}).json()["total"]
    assert sum(t["question_count"] for t in topics) == total
    assert {"cnn", "regularisation"} <= {t["name"] for t in topics}
    assert all(t["description"] for t in topics)


def test_cors_is_closed_by_default(api: httpx.Client) -> None:
    simple = api.get("/v1/topics", headers={"Origin": ORIGIN})
    assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers
    preflight = api.options("/v1/grade", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    error_of(preflight, 405)


# ---------------------------------------------------------------- auth, rate limit, CORS, logs


def test_api_keys(locked: httpx.Client) -> None:
    assert locked.get("/healthz").status_code == 200  # health and docs stay open
    assert locked.get("/openapi.json").status_code == 200
    missing = locked.get("/v1/topics")
    assert "Bearer" in error_of(missing, 401, "unauthorized")["message"]
    assert missing.headers["www-authenticate"] == "Bearer"
    error_of(locked.get("/v1/topics", headers={"Authorization": "Bearer wrong-key-zzz"}), 401, "unauthorized")
    error_of(locked.get("/v1/topics", headers={"Authorization": "Basic YWxwaGE="}), 401, "unauthorized")
    assert locked.get("/v1/topics", headers={"Authorization": f"Bearer {KEYS[0]}"}).status_code == 200
    assert locked.get("/v1/topics", headers={"X-API-Key": KEYS[0]}).status_code == 200
    graded = locked.post("/v1/grade", json={"question_id": "relu", "answer": "ReLU returns max(0, x)."},
                         headers={"X-API-Key": KEYS[0]})
    assert graded.status_code == 200 and graded.json()["status"] == "graded"
    spec = locked.get("/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}


def test_rate_limit_per_key(locked: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {KEYS[1]}"}  # only this test uses the second key
    statuses = [locked.get("/v1/topics", headers=headers) for _ in range(10)]
    assert [r.status_code for r in statuses[:5]] == [200] * 5
    limited = [r for r in statuses[5:] if r.status_code == 429]
    assert limited
    error = error_of(limited[0], 429, "rate_limited")
    assert int(limited[0].headers["retry-after"]) >= 1
    assert error["details"]["limit_per_minute"] == 5
    # without a valid key the answer is 401, not 429; health checks are never limited
    error_of(locked.get("/v1/topics"), 401)
    assert locked.get("/healthz").status_code == 200


def test_refused_requests_do_not_flood_the_access_log(locked: httpx.Client, locked_server: Server) -> None:
    headers = {"X-API-Key": KEYS[1]}  # out of tokens since test_rate_limit_per_key
    statuses = [locked.get("/v1/topics", headers=headers).status_code for _ in range(40)]
    assert statuses.count(429) >= 35
    lines = [json.loads(line) for line in locked_server.log_text().splitlines() if line.startswith("{")]
    from dlgrader.api.middleware import key_fingerprint

    refused = [e for e in lines if e.get("status") == 429 and e.get("key_id") == key_fingerprint(KEYS[1])]
    assert len(refused) == 1  # the first 429 of this key in this minute; the rest are counted, not written


def test_wrong_keys_are_throttled_per_address(locked_server: Server) -> None:
    """Ten wrong keys a minute from one address, then 429 for it (even with a right key, so guessing
    stops); other addresses are not affected. Loopback has many addresses: 127.0.0.3 is the guesser."""
    guesser = httpx.Client(base_url=locked_server.url, timeout=30,
                           transport=httpx.HTTPTransport(local_address="127.0.0.3"))
    with guesser:
        guesses = [guesser.get("/v1/topics", headers={"X-API-Key": f"guess-{i}"}) for i in range(12)]
        assert [r.status_code for r in guesses] == [401] * 10 + [429] * 2
        error = error_of(guesses[-1], 429, "too_many_failed_keys")
        assert int(guesses[-1].headers["retry-after"]) >= 1 and error["details"]["failures_per_minute"] == 10
        error_of(guesser.get("/v1/topics", headers={"X-API-Key": KEYS[2]}), 429)
        assert guesser.get("/healthz").status_code == 200
    with httpx.Client(base_url=locked_server.url, timeout=30) as other:  # from 127.0.0.1
        assert other.get("/v1/topics", headers={"X-API-Key": KEYS[2]}).status_code == 200


def test_cors_allows_only_the_configured_origin(locked: httpx.Client) -> None:
    ok = locked.options("/v1/grade", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "authorization,content-type"})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ORIGIN
    refused = locked.options("/v1/grade", headers={"Origin": "https://evil.example",
                                                   "Access-Control-Request-Method": "POST"})
    error_of(refused, 400, "cors_rejected")
    assert "access-control-allow-origin" not in refused.headers


def test_keys_never_logged_but_requests_are(locked: httpx.Client, locked_server: Server) -> None:
    response = locked.get("/v1/topics", headers={"X-API-Key": KEYS[0], "X-Request-ID": "log-check-1"})
    assert response.status_code == 200
    locked.get("/v1/topics", headers={"Authorization": "Bearer wrong-key-zzz"})
    text = locked_server.log_text()
    assert KEYS[0] not in text and KEYS[1] not in text and "wrong-key-zzz" not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [e for e in lines if e.get("request_id") == "log-check-1" and e["logger"].endswith(".access")]
    assert len(access) == 1
    assert access[0]["status"] == 200 and access[0]["path"] == "/v1/topics"
    assert access[0]["key_id"].startswith("key-")
