"""`dlgrader grade` and `dlgrader batch` as a user runs them: real processes, real model, real index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DLGRADER = [sys.executable, "-m", "dlgrader"]


def run(*args: str, stdin: str | None = None, timeout: int = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DLGRADER, *args], input=stdin, capture_output=True, text=True, timeout=timeout,
                          env=os.environ.copy())


@pytest.fixture(scope="module", autouse=True)
def _index_ready(grader) -> None:  # type: ignore[no-untyped-def]
    """Build the session index once, so the subprocesses below only load it."""


def test_grade_json_by_question_text() -> None:
    proc = run("grade", "--question", "What is dropout?", "--answer",
               "Dropout randomly disables neurons during training to reduce overfitting.", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "graded" and result["question_id"] == "dropout"
    assert 0 < result["score"] <= 100 and result["key_points"] and result["summary"]


def test_grade_reads_the_answer_from_stdin_and_renders_plain_text() -> None:
    proc = run("grade", "-i", "relu", stdin="ReLU returns zero for negative inputs and the input otherwise.")
    assert proc.returncode == 0, proc.stderr
    assert "Score" in proc.stdout and "key point" in proc.stdout and "\x1b[" not in proc.stdout


def test_grade_unknown_question() -> None:
    proc = run("grade", "-q", "How does DDIM sampling differ from DDPM?", "-a", "It is deterministic.", "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["status"] == "unknown_question"


def test_usage_errors_are_one_line_not_tracebacks(tmp_path: Path) -> None:
    proc = run("grade", "--answer", "x")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "--question" in proc.stderr
    bad_bank = tmp_path / "bank.jsonl"
    bad_bank.write_text("{broken\n", encoding="utf-8")
    env = {**os.environ, "DLGRADER_CORPUS": str(bad_bank)}
    proc = subprocess.run([*DLGRADER, "grade", "-i", "x", "-a", "y"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "line 1" in proc.stderr


def test_batch_keeps_order_and_turns_bad_lines_into_invalid_results(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a", "question_id": "dropout", "answer": "Dropout disables random neurons in training."}),
        "{not json",
        json.dumps({"id": "c", "question_id": "relu"}),
        json.dumps({"id": "d", "question": "What is the sigmoid function?", "answer": "Maps inputs to (0, 1).",
                    "label": 4}),
        json.dumps({"id": "e", "question": "What is a B-tree?", "answer": "A balanced tree."}),
    ]
    src = tmp_path / "answers.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "results.jsonl"
    proc = run("batch", str(src), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in results] == ["a", "line-2", "c", "d", "e"]
    assert [r["status"] for r in results] == ["graded", "invalid", "invalid", "graded", "unknown_question"]
    assert "invalid JSON" in results[1]["error"] and "answer" in results[2]["error"]
    assert results[3]["question_id"] == "sigmoid" and results[3]["label"] == 4


def test_batch_accepts_csv(tmp_path: Path) -> None:
    src = tmp_path / "answers.csv"
    src.write_text('id,question_id,answer\n1,dropout,"Dropout turns off neurons, randomly."\n2,relu,\n',
                   encoding="utf-8")
    out = tmp_path / "results.jsonl"
    proc = run("batch", str(src), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    statuses = [json.loads(line)["status"] for line in out.read_text().splitlines()]
    assert statuses == ["graded", "graded"]


# ---------------------------------------------------------------- bytes that are not text


def test_grade_with_non_utf8_bytes_in_argv_is_graded_not_a_traceback() -> None:
    # A real process: Python turns argv bytes that are not UTF-8 into lone surrogates (surrogateescape),
    # which crashed the encoder or the output writer.
    proc = subprocess.run([os.fsencode(sys.executable), b"-m", b"dlgrader", b"grade", b"-q", b"What is dropout\xff?",
                           b"-a", b"Dropout randomly \xe9disables neurons during training.", b"--json"],
                          capture_output=True, timeout=240, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert b"Traceback" not in proc.stderr
    result = json.loads(proc.stdout.decode("utf-8"))  # strict: the JSON is valid UTF-8
    assert result["status"] == "graded" and result["question_id"] == "dropout"
    assert b"--answer is not valid UTF-8" in proc.stderr and b"--question is not valid UTF-8" in proc.stderr
    plain = subprocess.run([os.fsencode(sys.executable), b"-m", b"dlgrader", b"grade", b"-i", b"dropout\xff",
                            b"-a", b"x\xff"], capture_output=True, timeout=240, env=os.environ.copy())
    assert plain.returncode == 0 and b"Traceback" not in plain.stderr
    plain.stdout.decode("utf-8")


def test_grade_reads_stdin_as_bytes_and_replaces_what_is_not_utf8() -> None:
    from click.testing import CliRunner

    from dlgrader.cli import cli

    answer = b"Dropout randomly disables neurons during training to reduce overfitting."
    run = CliRunner().invoke(cli, ["grade", "-i", "dropout", "--json"], input=b"\xef\xbb\xbf" + answer + b" \xff\xfe")
    assert run.exit_code == 0, run.output
    assert "the answer on standard input is not valid UTF-8 text: 2 invalid" in run.stderr
    result = json.loads(run.stdout_bytes.decode("utf-8"))
    assert result["status"] == "graded" and result["score"] > 0
    same = CliRunner().invoke(cli, ["grade", "-i", "dropout", "--json"], input=answer)
    assert same.exit_code == 0 and same.stderr == ""
