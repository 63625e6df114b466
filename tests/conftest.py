"""Shared fixtures: every DLGRADER_* path goes to a temp dir; the real model loads once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
BANK = ROOT / "corpus" / "questions.jsonl"

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, session_index_dir: Path) -> Iterator[None]:
    """No test reads the user's data dir or writes the repo's index/: each gets its own paths."""
    for key in list(os.environ):
        if key.startswith("DLGRADER_") or key.startswith("OPENAI_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DLGRADER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DLGRADER_INDEX_DIR", str(session_index_dir))
    from dlgrader.config import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def session_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index for the bundled bank per test session (built on first use)."""
    return tmp_path_factory.mktemp("index")


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    """The real all-MiniLM-L6-v2 (ONNX backend, the default), loaded once per session."""
    from dlgrader.embedding import load_embedder

    return load_embedder()


@pytest.fixture(scope="session")
def grader(real_embedder, session_index_dir: Path):  # type: ignore[no-untyped-def]
    """A Grader over the bundled bank with the real model and a real FAISS index."""
    from dlgrader.corpus.loader import load_bank
    from dlgrader.index import load_or_build
    from dlgrader.service import Grader

    bank = load_bank(BANK)
    index = load_or_build(bank, real_embedder, session_index_dir)
    return Grader(bank=bank, embedder=real_embedder, index=index)


@pytest.fixture(scope="session")
def product_grader(grader):  # type: ignore[no-untyped-def]
    """The grader a user gets by default (`dlgrader grade`, the API, practice): the session grader's bank,
    model and index with the shipped verifier. ``grader`` is the embedding-only path (``--fast``)."""
    from dlgrader.config import DEFAULT_VERIFIER_DIR
    from dlgrader.service import Grader
    from dlgrader.verifier import load_verifier

    return Grader(bank=grader.bank, embedder=grader.embedder, index=grader.index,
                  verifier=load_verifier(DEFAULT_VERIFIER_DIR))


def with_feedback(grader):  # type: ignore[no-untyped-def]
    """The session grader's bank, model and index, with the feedback engine of the current settings."""
    from dlgrader.config import get_settings
    from dlgrader.feedback.setup import engine_from_settings, off_reason
    from dlgrader.service import Grader

    settings = get_settings()
    reason = off_reason(settings)
    engine = None if reason else engine_from_settings(settings, embedder=grader.embedder,
                                                      corpus_hash=grader.bank.content_hash)
    return Grader(bank=grader.bank, embedder=grader.embedder, index=grader.index, feedback=engine,
                  feedback_off_reason=reason or "offline")


@pytest.fixture
def fake_embedder():  # type: ignore[no-untyped-def]
    from dlgrader.embedding.fake import FakeEmbedder

    return FakeEmbedder()
