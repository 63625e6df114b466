"""Practice and progress over real HTTP (``dlgrader serve`` as a subprocess), the web app's files, and the CLI
and the server sharing one progress database while both write to it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from apiserver import Server, running

pytestmark = pytest.mark.slow

MAX_ANSWER_CHARS = 3000
KEYS = ("alpha-key-123", "beta-key-456")
DLGRADER = str(Path(sys.executable).with_name("dlgrader"))
GOOD_DROPOUT = ("Dropout randomly switches off a fraction of the neurons at each training step, so the network "
                "cannot rely on any single unit and learns redundant features; this reduces overfitting. At "
                "inference dropout is off and all neurons are used.")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("practice-data")


@pytest.fixture(scope="module")
def server(grader, session_index_dir: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:
    with running({"DLGRADER_INDEX_DIR": str(session_index_dir), "DLGRADER_RATE_LIMIT_PER_MINUTE": "0",
                  "DLGRADER_MAX_ANSWER_CHARS": str(MAX_ANSWER_CHARS), "DLGRADER_DATA_DIR": str(data_dir)},
                 workdir=tmp_path_factory.mktemp("practice-server")) as s:
        yield s


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


def _learner(name: str) -> dict[str, str]:
    return {"X-Learner": name}


def test_a_learner_answers_overrides_the_rating_and_sees_progress(api: httpx.Client):
    who = _learner("ada")
    nxt = api.get("/v1/practice/next", params={"topic": "regularisation"}, headers=who).json()
    assert nxt["reason"] == "new" and nxt["card"] is None and "reference_answer" not in nxt["question"]
    assert nxt["queue"]["new"] > 0 and nxt["queue"]["due_now"] == 0

    answered = api.post("/v1/practice/answers", headers=who, json={
        "question_id": "dropout", "answer": GOOD_DROPOUT, "session_id": "web-1"})
    assert answered.status_code == 200, answered.text
    body = answered.json()
    verdicts = [k["verdict"] for k in body["result"]["key_points"]]
    assert "covered" in verdicts and body["result"]["score"] > 40
    covered = next(k for k in body["result"]["key_points"] if k["verdict"] == "covered")
    start, end = covered["evidence"]["start"], covered["evidence"]["end"]
    assert GOOD_DROPOUT[start:end] == covered["evidence"]["text"]  # offsets into the answer as sent
    assert body["rating"] == body["suggested_rating"] in ("again", "hard", "good", "easy")
    assert body["interval"].startswith("in ") and body["reference"]["reference_answer"]
    source = body["reference"]["sources"][0]
    assert source["label"].startswith(source["title"]) and ".txt" not in source["label"]
    assert body["reference"]["misconceptions"]

    other = "again" if body["suggested_rating"] != "again" else "easy"
    rated = api.post(f"/v1/practice/attempts/{body['attempt_id']}/rating", headers=who, json={"rating": other})
    assert rated.status_code == 200, rated.text
    assert rated.json()["overridden"] is True and rated.json()["rating"] == other
    assert rated.json()["due"] != body["due"]

    progress = api.get("/v1/progress", headers=who, params={"days": 7}).json()
    assert (progress["learner"], progress["graded"], progress["questions_seen"]) == ("ada", 1, 1)
    assert next(t for t in progress["topics"] if t["topic"] == "regularisation")["seen"] == 1
    assert len(progress["history"]) == 7 and progress["history"][-1]["reviews"] == 1
    # another profile starts from nothing
    assert api.get("/v1/progress", headers=_learner("bea")).json()["attempts"] == 0
    assert api.post(f"/v1/practice/attempts/{body['attempt_id']}/rating", headers=_learner("bea"),
                    json={"rating": "easy"}).status_code == 404


def test_a_failed_card_comes_back_in_the_same_session(api: httpx.Client, grader):  # type: ignore[no-untyped-def]
    who = _learner("carl")
    ids = [q.id for q in grader.bank.select(topic="cnn")]
    shown = api.post("/v1/practice/reveal", headers=who, json={"question_id": ids[0], "session_id": "s-9"})
    assert shown.status_code == 200 and shown.json()["rating"] == "again"
    assert shown.json()["reference"]["reference_answer"]
    reasons = []
    for _ in range(3):
        nxt = api.get("/v1/practice/next", headers=who, params={"topic": "cnn", "session_id": "s-9"}).json()
        reasons.append(nxt["reason"])
        assert nxt["question"]["id"] != ids[0]
        reference = grader.bank.get(nxt["question"]["id"]).reference_answer
        assert api.post("/v1/practice/answers", headers=who, json={
            "question_id": nxt["question"]["id"], "answer": reference, "session_id": "s-9"}).status_code == 200
    again = api.get("/v1/practice/next", headers=who, params={"topic": "cnn", "session_id": "s-9"}).json()
    assert (again["question"]["id"], again["reason"]) == (ids[0], "relearn")


def test_practice_errors_are_clear_and_change_nothing(api: httpx.Client):
    who = _learner("dora")

    def error(response: httpx.Response) -> tuple[int, str]:
        return response.status_code, response.json()["error"]["code"]

    assert error(api.post("/v1/practice/answers", headers=who, json={"question_id": "dropout", "answer": "  "})
                 ) == (422, "empty_answer")
    long = api.post("/v1/practice/answers", headers=who, json={"question_id": "dropout",
                                                               "answer": "word " * 1000})
    assert error(long) == (422, "answer_too_long") and "3000" in long.json()["error"]["message"]
    assert error(api.post("/v1/practice/answers", headers=who, json={"question_id": "droput", "answer": "x"})
                 ) == (404, "question_not_found")
    assert error(api.post("/v1/practice/attempts/999999/rating", headers=who, json={"rating": "easy"})
                 ) == (404, "attempt_not_found")
    assert api.post("/v1/practice/attempts/1/rating", headers=who, json={"rating": "perfect"}).status_code == 422
    assert error(api.get("/v1/progress", headers=_learner("no spaces!"))) == (422, "bad_learner")
    assert api.get("/v1/practice/next", params={"session_id": "a b"}).status_code == 422
    assert error(api.get("/v1/practice/next", params={"topic": "astrology"}))[0] == 422
    assert api.get("/v1/progress", headers=who).json()["attempts"] == 0
    first = api.post("/v1/practice/answers", headers=who, json={"question_id": "gru", "answer": "two gates"})
    api.post("/v1/practice/answers", headers=who, json={"question_id": "gru", "answer": "update and reset gates"})
    locked = api.post(f"/v1/practice/attempts/{first.json()['attempt_id']}/rating", headers=who,
                      json={"rating": "easy"})
    assert error(locked) == (409, "rating_locked")


def test_the_web_app_is_served_from_the_package(api: httpx.Client):
    page = api.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '"max_answer_chars": 3000' in page.text and "<!--DLGRADER_CONFIG-->" not in page.text
    assert "https://" not in page.text.split("<body")[0]  # nothing from a CDN
    script = api.get("/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert api.get("/static/app.css").headers["content-type"].startswith("text/css")
    missing = api.get("/static/secret.py")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert api.get("/static/..%2Fpractice.py").status_code == 404


def test_the_cli_and_the_server_share_one_store_while_both_write(api: httpx.Client, data_dir: Path,
                                                                grader):  # type: ignore[no-untyped-def]
    # Two `dlgrader practice` processes and HTTP clients write to the same database at the same time.
    questions = grader.bank.select(topic="sequence_models")
    env = {**os.environ, "DLGRADER_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "COLUMNS": "120"}
    script = "".join(f"{q.reference_answer}\n\n\n" for q in questions[:3]) + "quit\n"
    clis = [subprocess.Popen([DLGRADER, "practice", "--topic", "sequence_models", "--count", "3", "--profile",
                              f"cli{i}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env) for i in range(2)]
    failures: list[str] = []

    def post(n: int) -> None:
        with httpx.Client(base_url=str(api.base_url), timeout=120) as client:
            for q in questions[:4]:
                r = client.post("/v1/practice/answers", headers=_learner(f"web{n}"),
                                json={"question_id": q.id, "answer": q.reference_answer})
                if r.status_code != 200:
                    failures.append(r.text)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    outputs = [p.communicate(script, timeout=300) for p in clis]
    for t in threads:
        t.join(300)
    assert not failures
    for proc, (out, err) in zip(clis, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "You quit: 3 graded" in out
    with sqlite3.connect(data_dir / "progress.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        counts = dict(conn.execute("SELECT learner, COUNT(*) FROM attempts WHERE learner LIKE 'cli%' OR "
                                   "learner LIKE 'web%' GROUP BY learner").fetchall())
    conn.close()
    assert counts == {"cli0": 3, "cli1": 3, "web0": 4, "web1": 4}
    # what the CLI stored, the server shows, and the reverse
    assert api.get("/v1/progress", headers=_learner("cli0")).json()["graded"] == 3
    shown = subprocess.run([DLGRADER, "progress", "--json", "--profile", "web1"], capture_output=True, text=True,
                           env=env, timeout=120)
    assert '"graded": 4' in shown.stdout


def test_with_api_keys_progress_belongs_to_the_key(grader, session_index_dir: Path,
                                                   tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with running({"DLGRADER_INDEX_DIR": str(session_index_dir), "DLGRADER_API_KEYS": ",".join(KEYS),
                  "DLGRADER_RATE_LIMIT_PER_MINUTE": "0",
                  "DLGRADER_DATA_DIR": str(tmp_path_factory.mktemp("keyed-data"))},
                 workdir=tmp_path_factory.mktemp("keyed-server")) as keyed, \
            httpx.Client(base_url=keyed.url, timeout=120) as client:
        assert client.get("/v1/progress").status_code == 401
        assert '"keys_required": true' in client.get("/").text  # the page itself needs no key
        alpha, beta = {"X-API-Key": KEYS[0], "X-Learner": "ignored"}, {"Authorization": f"Bearer {KEYS[1]}"}
        r = client.post("/v1/practice/answers", headers=alpha, json={"question_id": "relu",
                                                                     "answer": "max(0, x)"})
        assert r.status_code == 200
        mine = client.get("/v1/progress", headers=alpha).json()
        assert mine["graded"] == 1 and mine["learner"].startswith("key-") and KEYS[0] not in mine["learner"]
        assert client.get("/v1/progress", headers=beta).json()["graded"] == 0
        assert client.post(f"/v1/practice/attempts/{r.json()['attempt_id']}/rating", headers=beta,
                           json={"rating": "easy"}).status_code == 404
