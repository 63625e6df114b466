"""`dlgrader batch`: resume after a kill, exact results, CSV and column mapping, calibration, progress."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlgrader.batch import CHUNK, Columns, completed_ids, run_batch

ROOT = Path(__file__).resolve().parents[1]
BANK = ROOT / "corpus" / "questions.jsonl"
DLGRADER = Path(sys.executable).parent / "dlgrader"


def synthetic_answers(path: Path, n: int, seed: int = 5) -> list[str]:
    """n short answers to bank questions (a few by question text, unknown, or broken); returns the ids."""
    from dlgrader.corpus.loader import load_bank

    bank = load_bank(BANK)
    rng = random.Random(seed)
    ids = []
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            q = rng.choice(bank.questions)
            rid = f"r{i:05d}"
            ids.append(rid)
            answer = rng.choice([kp.text for kp in q.key_points] + ["I am not sure.", "It depends."])
            record: dict[str, object] = {"id": rid, "answer": answer, "label": rng.randint(0, 5)}
            roll = rng.random()
            if roll < 0.08:
                record["question"] = q.question
            elif roll < 0.10:
                record["question_id"] = "no_such_question"
            elif roll < 0.11:
                del record["answer"]
                record["question_id"] = q.id
            else:
                record["question_id"] = q.id
            fh.write(json.dumps(record) + "\n")
    return ids


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_a_killed_batch_resumes_to_exactly_the_uninterrupted_result(grader, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    # `grader` builds the session index first, so the subprocesses below only read it.
    # 600 answers: the first chunk (CHUNK = 256 lines) is written while about 350 are still to grade, so
    # the kill lands mid-run, with whole chunks behind it and graded work lost in front of it.
    answers = tmp_path / "answers.jsonl"
    ids = synthetic_answers(answers, 600)
    reference, output = tmp_path / "reference.jsonl", tmp_path / "results.jsonl"
    # The uninterrupted run and the run to be killed start together (same code, same index).
    uninterrupted = subprocess.Popen([str(DLGRADER), "batch", str(answers), "-o", str(reference)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cmd = [str(DLGRADER), "batch", str(answers), "-o", str(output)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while _lines(output) < CHUNK and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the batch ended before it could be interrupted"
    os.kill(proc.pid, signal.SIGSTOP)  # frozen where it is: what is on disk now is what the kill leaves
    assert proc.poll() is None, "the batch finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    written = _lines(output)
    assert CHUNK <= written < len(ids), written
    with output.open("ab") as fh:  # what a kill in the middle of a write leaves behind
        fh.write(b'{"status":"graded","id":"r9')

    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{written} already done" in resumed.stderr
    assert uninterrupted.wait(timeout=300) == 0, uninterrupted.stderr.read() if uninterrupted.stderr else ""

    got = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["id"] for r in got] == ids  # every id exactly once, in input order
    assert output.read_text() == reference.read_text()  # byte-identical to the uninterrupted run
    statuses = {r["status"] for r in got}
    assert statuses == {"graded", "unknown_question", "invalid"}


def test_resume_counts_duplicate_ids_and_cuts_a_partial_line(grader, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    answers = tmp_path / "dup.jsonl"
    rows = [("a", "Dropout randomly drops units during training."), ("b", "ReLU outputs max(0, x)."),
            ("a", "Dropout is a regularisation technique."), ("c", "It prevents overfitting.")]
    answers.write_text("".join(json.dumps({"id": i, "question_id": "dropout", "answer": a}) + "\n"
                               for i, a in rows))
    full = tmp_path / "full.jsonl"
    run_batch(grader, answers, full)
    lines = full.read_text().splitlines(keepends=True)
    assert [json.loads(line)["id"] for line in lines] == ["a", "b", "a", "c"]
    for keep in (1, 3):
        out = tmp_path / f"part{keep}.jsonl"
        out.write_text("".join(lines[:keep]) + lines[keep][:25])  # whole lines, then half of the next
        assert completed_ids(out) == _count(lines[:keep])
        assert out.read_text() == "".join(lines[:keep])  # the partial line was cut off
        stats = run_batch(grader, answers, out)
        assert stats.skipped == keep and stats.total == len(rows) - keep
        assert out.read_text() == full.read_text()


def _count(lines: list[str]):  # type: ignore[no-untyped-def]
    from collections import Counter

    return Counter(json.loads(line)["id"] for line in lines)


def test_csv_input_with_renamed_columns_labels_and_bad_lines(tmp_path: Path) -> None:
    from dlgrader.cli import cli

    answers = tmp_path / "answers.csv"
    answers.write_text(
        "ref,qid,response,mark\n"
        "x1,dropout,Dropout randomly zeroes activations during training to reduce overfitting.,4\n"
        "x2,no_such_id,Something.,2\n"
        "x3,dropout,,excellent\n"
        "x4,,An answer without a question.,1\n"
    )
    out = tmp_path / "out.jsonl"
    run = CliRunner().invoke(cli, ["batch", str(answers), "-o", str(out), "--columns",
                                   "id=ref,question_id=qid,answer=response,label=mark"])
    assert run.exit_code == 0, run.output
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in results] == ["x1", "x2", "x3", "x4"]
    assert results[0]["status"] == "graded" and results[0]["label"] == 4.0
    assert results[1]["status"] == "unknown_question" and results[1]["label"] == 2.0
    assert results[2]["status"] == "graded" and results[2]["label"] == "excellent"  # empty answer: graded 0
    assert results[3]["status"] == "invalid" and results[3]["error"].startswith("line 5:")
    assert "4 written" in run.output and "2 graded, 1 unknown question, 1 invalid" in run.output


def test_batch_applies_a_calibration_and_restart_overwrites(tmp_path: Path) -> None:
    from dlgrader.calibration import Calibration
    from dlgrader.cli import cli
    from dlgrader.metrics import Scale

    cal = tmp_path / "cal.json"
    Calibration(method="isotonic", knots_x=(0.0, 100.0), knots_y=(0.0, 10.0), scale=Scale(0, 10, 1)).save(cal)
    answers = tmp_path / "a.jsonl"
    record = {"id": "1", "question_id": "dropout", "answer": "Dropout drops units."}
    answers.write_text(json.dumps(record) + "\n")
    out = tmp_path / "o.jsonl"
    runner = CliRunner()
    assert runner.invoke(cli, ["batch", str(answers), "-o", str(out)]).exit_code == 0
    again = runner.invoke(cli, ["batch", str(answers), "-o", str(out), "--calibration", str(cal)])
    assert "1 already done" in again.output and "calibrated_score" not in out.read_text()
    args = ["batch", str(answers), "-o", str(out), "--calibration", str(cal), "--restart"]
    forced = runner.invoke(cli, args)
    assert forced.exit_code == 0, forced.output
    result = json.loads(out.read_text())
    assert result["calibrated_score"] == pytest.approx(result["score"] / 10, abs=1e-3)
    assert result["calibrated_scale"] == "0-10"


def test_progress_bar_shows_rate_and_eta(tmp_path: Path) -> None:
    from dlgrader.cli import cli

    answers = tmp_path / "a.jsonl"
    synthetic_answers(answers, 40)
    out = tmp_path / "o.jsonl"
    run = CliRunner().invoke(cli, ["batch", str(answers), "-o", str(out), "--progress"])
    assert run.exit_code == 0, run.output
    assert "answers/s" in run.output and "40/40" in run.output


def test_input_and_output_must_differ(tmp_path: Path) -> None:
    from dlgrader.errors import InputError

    path = tmp_path / "same.jsonl"
    path.write_text("{}\n")
    with pytest.raises(InputError, match="must differ"):
        run_batch(None, path, path)  # type: ignore[arg-type]


def test_columns_mapping_is_validated() -> None:
    from dlgrader.errors import InputError

    assert Columns.parse("answer=response, label=score") == Columns(answer="response", label="score")
    with pytest.raises(InputError, match="bad column mapping"):
        Columns.parse("nonsense=1")


# ---------------------------------------------------------------- input that used to lose data or crash


def _unknown_question_lines(n: int) -> list[bytes]:
    # An unknown question id costs no model time, and a short one few look-alike suggestions to rank: the
    # large file below stays fast.
    return [json.dumps({"id": f"u{i:05d}", "question_id": "zz", "answer": f"answer {i}"}).encode() + b"\n"
            for i in range(1, n + 1)]


@pytest.mark.parametrize(("n", "bad"), [(5, 2), (3001, 1501)])
def test_a_non_utf8_byte_costs_one_line_and_the_run_goes_on(tmp_path: Path, n: int, bad: int) -> None:
    # Before: the 3,001-line file ended at 1,478 results with exit 0 and the invalid one on the wrong line;
    # the 5-line file gave a single result.
    from dlgrader.cli import cli

    lines = _unknown_question_lines(n)
    lines[bad - 1] = lines[bad - 1].replace(b"answer", b"r\xe9ponse")
    answers, out = tmp_path / "a.jsonl", tmp_path / "o.jsonl"
    answers.write_bytes(b"".join(lines))
    run = CliRunner().invoke(cli, ["batch", str(answers), "-o", str(out)])
    assert run.exit_code == 0, run.output
    results = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(results) == n
    invalid = [r for r in results if r["status"] == "invalid"]
    assert len(invalid) == 1 and invalid[0] == results[bad - 1]
    assert invalid[0]["id"] == f"line-{bad}" and invalid[0]["error"].startswith(f"line {bad}: not UTF-8 text")
    assert [r["id"] for r in results if r["status"] != "invalid"] == [
        f"u{i:05d}" for i in range(1, n + 1) if i != bad]
    assert f"{n} written" in run.output and "1 invalid" in run.output


def test_a_non_utf8_csv_line_is_one_invalid_record(grader, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    answers, out = tmp_path / "a.csv", tmp_path / "o.jsonl"
    answers.write_bytes(b"id,question_id,answer\n"
                        b"1,dropout,Dropout drops units at random.\n"
                        b"2,dropout,Dropout is na\xefve.\n"
                        b'3,relu,"ReLU is max(0, x),\nso it is zero for negatives."\n'
                        b"4,relu,ReLU keeps positive inputs.\n")
    stats = run_batch(grader, answers, out)
    results = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["status"]) for r in results] == [
        ("1", "graded"), ("line-3", "invalid"), ("3", "graded"), ("4", "graded")]
    assert results[1]["error"].startswith("line 3: not UTF-8 text")
    assert stats.total == 4 and stats.invalid == 1


def test_lone_surrogates_in_the_input_are_graded_and_written_as_valid_utf8(tmp_path: Path) -> None:
    # Before: the results writer raised on the first one, having written nothing, and crashed again at the
    # same record on every rerun, so the file could never finish.
    from dlgrader.cli import cli

    answers, out = tmp_path / "a.jsonl", tmp_path / "o.jsonl"
    records = [
        {"id": "s\ud800", "question_id": "dropout", "answer": "Dropout \udfff randomly drops units.",
         "label": "\udc80"},
        {"id": "t", "question": "What is dropout\ud83d?", "answer": "Dropout zeroes random activations."},
        {"id": "u", "question_id": "relu", "answer": "ReLU is max(0, x)."},
    ]
    answers.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="ascii")
    runner = CliRunner()
    run = runner.invoke(cli, ["batch", str(answers), "-o", str(out)])
    assert run.exit_code == 0, run.output
    text = out.read_bytes().decode("utf-8")  # strict: valid UTF-8 throughout
    results = [json.loads(line) for line in text.splitlines()]
    assert [r["id"] for r in results] == ["s\ufffd", "t", "u"]
    assert [r["status"] for r in results] == ["graded", "graded", "graded"]
    assert results[0]["label"] == "\ufffd" and results[1]["question_id"] == "dropout"
    # Each result carries the cleaned answer, the text its evidence offsets index (for reports).
    assert results[0]["answer"] == "Dropout \ufffd randomly drops units."
    assert results[2]["answer"] == records[2]["answer"]
    for r in results:
        for kp in r["key_points"]:
            span = kp.get("evidence")
            if span:
                assert r["answer"][span["start"]:span["end"]] == span["text"]
    again = runner.invoke(cli, ["batch", str(answers), "-o", str(out)])  # the ids still match on resume
    assert again.exit_code == 0 and "3 already done" in again.output and out.read_bytes().decode() == text


def _read_only_dir(tmp_path: Path) -> Path:
    """A directory this process cannot create files in (root ignores permission bits: use /sys there)."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        return locked
    if not Path("/sys/kernel").is_dir():
        pytest.skip("running as root without /sys: no read-only directory to try")
    return Path("/sys/kernel")


def test_an_unwritable_output_is_one_clear_line_and_no_file(grader, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    answers = tmp_path / "a.jsonl"
    answers.write_text(json.dumps({"id": "1", "question_id": "dropout", "answer": "Dropout."}) + "\n")
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("")
    for output in (a_file / "sub" / "out.jsonl", _read_only_dir(tmp_path) / "dlgrader-out.jsonl"):
        proc = subprocess.run([str(DLGRADER), "batch", str(answers), "-o", str(output)], capture_output=True,
                              text=True, timeout=240)
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr and f"Error: cannot write {output}" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert not output.exists()
