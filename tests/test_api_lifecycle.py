"""Start-up and shutdown of ``dlgrader serve``: live before ready, load failures reported, graceful
SIGTERM that finishes requests in flight."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from apiserver import Server, dlgrader_command, server_env, start
from test_api import GOOD_ANSWER, error_of

pytestmark = pytest.mark.slow


def assert_graceful(server: Server) -> None:
    """SIGTERM: uvicorn drains, runs the lifespan's shutdown, then exits with the signal it caught."""
    assert server.stop() in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.log_text()


def test_graceful_shutdown_finishes_requests_in_flight(session_index_dir: Path, tmp_path: Path,
                                                       grader) -> None:
    server = start({"DLGRADER_INDEX_DIR": str(session_index_dir), "DLGRADER_LOG_LEVEL": "DEBUG"},
                   workdir=tmp_path)
    items = [{"id": str(i), "question_id": "dropout", "answer": GOOD_ANSWER} for i in range(30)]
    outcome: dict[str, httpx.Response] = {}

    def run_batch() -> None:
        with httpx.Client(base_url=server.url, timeout=300) as client:
            outcome["response"] = client.post("/v1/grade/batch", json={"items": items})

    worker = threading.Thread(target=run_batch)
    worker.start()
    try:
        for _ in range(600):  # until the server says it is grading the batch (bounded)
            if "grading a batch of 30" in server.log_text() or not worker.is_alive():
                break
            time.sleep(0.05)
        assert worker.is_alive(), "the batch ended before the shutdown was sent"
    finally:
        assert_graceful(server)
        worker.join(300)
    response = outcome["response"]
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [str(i) for i in range(30)]


CALIBRATION = {"format": "dlgrader-calibration/1", "method": "isotonic",
               "scale": {"low": 0, "high": 5, "step": 0.5}, "knots": {"score": [0, 100], "value": [0, 5]}}


def _release(fifo: Path, server: Server, content: str) -> None:
    """Write ``content`` into the named pipe the loading server reads from: opening it for writing succeeds
    once the server has opened it for reading (bounded wait, and only while the server runs)."""
    for _ in range(1200):
        try:
            handle = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or server.process.poll() is not None:
                raise
            time.sleep(0.05)
            continue
        with os.fdopen(handle, "w", encoding="utf-8") as pipe:
            pipe.write(content)
        return
    raise AssertionError("the server never opened the calibration file")


def test_not_ready_while_loading(grader, session_index_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Loading is held up by the test, not by the machine's speed: the calibration file is a named pipe
    that the loader blocks on until the test writes it. Until then the server is live but not ready."""
    fifo = tmp_path / "calibration.json"
    os.mkfifo(fifo)
    server = start({"DLGRADER_INDEX_DIR": str(session_index_dir), "DLGRADER_CALIBRATION": str(fifo)},
                   workdir=tmp_path / "server", wait_for="/healthz")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            error_of(client.get("/readyz"), 503, "not_ready")
            busy = client.post("/v1/grade", json={"question_id": "relu", "answer": "ReLU."})
            error_of(busy, 503, "not_ready")
            assert int(busy.headers["retry-after"]) >= 1
            assert client.get("/healthz").status_code == 200
            _release(fifo, server, json.dumps(CALIBRATION))
            for _ in range(600):  # loading ends moments after the release; bounded wait
                if client.get("/readyz").status_code != 503:
                    break
                time.sleep(0.05)
            assert client.get("/readyz").status_code == 200
            graded = client.post("/v1/grade", json={"question_id": "relu", "answer": "ReLU."}).json()
            assert graded["calibrated_scale"] == "0-5"
    finally:
        if server.process.poll() is None and fifo.exists():
            try:  # never leave the loader blocked: shutdown would wait for it
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        assert_graceful(server)


def test_failed_load_is_reported_not_hidden(tmp_path: Path) -> None:
    bank = tmp_path / "broken.jsonl"
    bank.write_text('{"id": "x"}\nnot json\n', encoding="utf-8")
    server = start({"DLGRADER_CORPUS": str(bank)}, workdir=tmp_path, wait_for="/healthz")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(100):  # loading a broken bank fails within moments; bounded wait
                response = client.get("/readyz")
                if response.json()["error"]["code"] != "not_ready":
                    break
                time.sleep(0.1)
            error = error_of(response, 503, "load_failed")
            assert "problem" in error["message"]
            error_of(client.post("/v1/grade", json={"question_id": "x", "answer": "y"}), 503, "load_failed")
    finally:
        assert_graceful(server)
    assert "Traceback" not in server.log_text()


def test_serve_refuses_a_missing_bank(tmp_path: Path) -> None:
    done = subprocess.run([*dlgrader_command(), "serve", "--port", "0"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60,
                          env=server_env({"DLGRADER_CORPUS": str(tmp_path / "none.jsonl")}, workdir=tmp_path))
    assert done.returncode != 0 and "question bank not found" in done.stderr
