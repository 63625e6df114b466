"""`dlgrader batch --engine ray` on a local Ray instance (2 CPUs): the local engine's results, bad lines,
kill-and-resume, Parquet in and out, and a clear message without Ray. Each run is a real CLI process, so
the Ray instance it starts goes away with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_batch import synthetic_answers

DLGRADER = Path(sys.executable).parent / "dlgrader"
CHUNK = 256


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DLGRADER), "batch", *args], capture_output=True, text=True, timeout=timeout)


def _needs_ray() -> None:
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'dlgrader[ray]' to run these tests")


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_ray_gives_the_local_results_bad_lines_included(grader, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _needs_ray()
    answers = tmp_path / "answers.jsonl"
    synthetic_answers(answers, 90)
    with answers.open("ab") as fh:
        fh.write(b'{"id": "broken", "answer": \n')  # broken JSON
        fh.write(b'{"id": "bytes", "question_id": "dropout", "answer": "caf\xe9"}\n')  # not UTF-8
        fh.write(b'{"id": "last", "question_id": "relu", "answer": "max(0, x)"}\n')
    local, ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert _run(str(answers), "-o", str(local)).returncode == 0
    done = _run(str(answers), "-o", str(ray), "--engine", "ray", "--batch-size", "16")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "93 written" in done.stderr and "ray: started in" in done.stderr
    assert ray.read_bytes() == local.read_bytes()
    results = [json.loads(line) for line in ray.read_text().splitlines()]
    assert [r["status"] for r in results[-3:]] == ["invalid", "invalid", "graded"]
    assert results[-3]["error"].startswith("line 91: invalid JSON")
    assert results[-2]["error"].startswith("line 92: not UTF-8 text")


def test_a_killed_ray_run_resumes_to_the_uninterrupted_result(grader, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _needs_ray()
    # the resume mechanics, not the grade: the embedding-only path keeps 1,200 answers x 3 runs quick
    monkeypatch.setenv("DLGRADER_VERIFIER", "off")
    answers = tmp_path / "answers.jsonl"
    # 1,200 answers: Ray hands results back in blocks of a few hundred, so after the first chunk is written
    # most of the file is still to grade when the kill lands.
    ids = synthetic_answers(answers, 1200)
    reference, output = tmp_path / "reference.jsonl", tmp_path / "results.jsonl"
    assert _run(str(answers), "-o", str(reference)).returncode == 0
    cmd = [str(DLGRADER), "batch", str(answers), "-o", str(output), "--engine", "ray", "--actors", "2"]
    # Its own session: the kill takes the driver and the Ray instance it started.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while _lines(output) < CHUNK and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    written = _lines(output)
    assert CHUNK <= written < len(ids), written
    with output.open("ab") as fh:  # what a kill in the middle of a write leaves behind
        fh.write(b'{"status":"graded","id":"r9')
    resumed = _run(str(answers), "-o", str(output), "--engine", "ray", "--actors", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"{written} already done" in resumed.stderr
    assert output.read_bytes() == reference.read_bytes()  # nothing graded twice, lost or reordered


def test_parquet_in_and_out(grader, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _needs_ray()
    import pandas as pd
    import pyarrow.parquet as pq

    answers = tmp_path / "answers.jsonl"
    synthetic_answers(answers, 70, seed=9)
    records = [json.loads(line) for line in answers.read_text().splitlines()]
    table = tmp_path / "answers.parquet"
    pd.DataFrame(records).to_parquet(table)
    local, out = tmp_path / "local.jsonl", tmp_path / "results.parquet"
    assert _run(str(answers), "-o", str(local)).returncode == 0
    done = _run(str(table), "-o", str(out), "--engine", "ray")
    assert done.returncode == 0, done.stderr[-3000:]
    written = pq.read_table(out).to_pylist()
    assert [row["position"] for row in written] == list(range(70))
    expected = [json.loads(line) for line in local.read_text().splitlines()]
    for r in expected:  # a Parquet row has no line: its error names the record
        if "error" in r:
            r["error"] = r["error"].replace(r["error"].split(":")[0], f"record {r['id']}", 1)
    assert any("error" in r for r in expected)
    assert [json.loads(row["result"]) for row in written] == expected
    assert [row["score"] for row in written] == [r.get("score") for r in expected]
    again = _run(str(table), "-o", str(out), "--engine", "ray")
    assert again.returncode == 0 and "70 already done" in again.stderr
    assert len(pq.read_table(out)) == 70
    pd.DataFrame(records).drop(columns=["id"]).to_parquet(tmp_path / "no_ids.parquet")
    refused = _run(str(tmp_path / "no_ids.parquet"), "-o", str(tmp_path / "x.jsonl"), "--engine", "ray")
    assert refused.returncode == 1 and "needs an 'id' column" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_without_ray_the_message_says_how_to_install_it(tmp_path: Path) -> None:
    # A `ray` package that cannot be imported stands first on the path, as if Ray were not installed.
    fake = tmp_path / "shadow" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    answers = tmp_path / "a.jsonl"
    answers.write_text(json.dumps({"id": "1", "question_id": "relu", "answer": "max(0, x)"}) + "\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "shadow")}
    run = subprocess.run([str(DLGRADER), "batch", str(answers), "-o", str(tmp_path / "o.jsonl"), "--engine", "ray"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 1
    assert "pip install 'dlgrader[ray]'" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "o.jsonl").exists()
