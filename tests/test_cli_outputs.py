"""Files the CLI writes (report, calibration, progress export): an unwritable place is one clear line, and
no half-written file is left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlgrader.cli import cli


def _unwritable(tmp_path: Path) -> Path:
    """A path whose folder cannot be created: its would-be parent is a regular file."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    return blocker / "sub" / "out"


@pytest.fixture
def results(tmp_path: Path) -> Path:
    path = tmp_path / "results.jsonl"
    qids = ["dropout", "relu", "batch_normalization", "overfitting"]
    rows = [{"status": "graded", "id": f"a{i}", "question_id": qids[i % 4], "question": qids[i % 4],
             "score": float(i * 2), "label": i // 8, "key_points": [], "flags": []} for i in range(48)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("option", ["--html", "--csv", "--json"])
def test_report_to_an_unwritable_path_is_a_clean_error(results: Path, tmp_path: Path, option: str) -> None:
    target = _unwritable(tmp_path)
    run = CliRunner().invoke(cli, ["report", str(results), option, str(target)])
    assert run.exit_code == 1 and run.exception is not None and isinstance(run.exception, SystemExit)
    assert f"Error: cannot write {target}" in run.stderr


def test_report_files_are_written_whole_and_nothing_else_is_left(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "new" / "dir" / "report.html"  # missing folders are created, as batch does
    run = CliRunner().invoke(cli, ["report", str(results), "--html", str(out)])
    assert run.exit_code == 0, run.output
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>") or "<html" in out.read_text()
    assert os.listdir(out.parent) == ["report.html"]  # the temporary file was moved, not copied


def test_calibrate_and_progress_export_to_an_unwritable_path(results: Path, tmp_path: Path) -> None:
    target = _unwritable(tmp_path)
    runner = CliRunner()
    cal = runner.invoke(cli, ["calibrate", str(results), "--labels", "label", "-o", str(target)])
    assert "cross-validation" in cal.stdout  # fitted: only the writing failed
    assert cal.exit_code == 1 and f"Error: cannot write {target}" in cal.stderr
    export = runner.invoke(cli, ["progress", "export", "-o", str(target)])
    assert export.exit_code == 1 and f"Error: cannot write {target}" in export.stderr
    assert not target.exists()
