"""`dlgrader index build`: builds a missing or stale index, leaves a current one alone unless --force."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlgrader.cli import cli

ROOT = Path(__file__).resolve().parents[1]
BANK = ROOT / "corpus" / "questions.jsonl"


@pytest.fixture
def small_bank(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two questions of the bundled bank (fast to embed) and their own index folder."""
    bank = tmp_path / "bank.jsonl"
    bank.write_text("".join(BANK.read_text(encoding="utf-8").splitlines(keepends=True)[:2]), encoding="utf-8")
    monkeypatch.setenv("DLGRADER_CORPUS", str(bank))
    monkeypatch.setenv("DLGRADER_INDEX_DIR", str(tmp_path / "index"))
    from dlgrader.config import get_settings

    get_settings.cache_clear()
    return bank


def test_index_build_skips_a_current_index_unless_forced(small_bank: Path, tmp_path: Path) -> None:
    # Before: every `index build` (so every `make run`) re-embedded the whole bank, current or not.
    manifest = tmp_path / "index" / "manifest.json"
    runner = CliRunner()
    first = runner.invoke(cli, ["index", "build"])
    assert first.exit_code == 0, first.output
    assert "index written" in first.output and "no index yet" in first.output
    built = manifest.stat().st_mtime_ns, manifest.read_bytes()

    again = runner.invoke(cli, ["index", "build"])
    assert again.exit_code == 0, again.output
    assert "is current" in again.output and "nothing to do" in again.output
    assert (manifest.stat().st_mtime_ns, manifest.read_bytes()) == built  # not rewritten

    forced = runner.invoke(cli, ["index", "build", "--force"])
    assert forced.exit_code == 0 and "index written" in forced.output and "(--force)" in forced.output
    assert manifest.stat().st_mtime_ns != built[0]

    small_bank.write_text(small_bank.read_text(encoding="utf-8").splitlines(keepends=True)[0], encoding="utf-8")
    changed = runner.invoke(cli, ["index", "build"])  # a changed bank makes the index stale: rebuilt
    assert changed.exit_code == 0 and "corpus_hash changed" in changed.output
    assert json.loads(manifest.read_text())["counts"]["questions_in_bank"] == 1
