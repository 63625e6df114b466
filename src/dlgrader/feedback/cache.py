"""SQLite cache of valid model replies, keyed by model, prompt version, corpus hash, question id and answer.

Only replies that passed schema validation are stored (never failures), with the tokens they cost.
Verification and scoring run again on every hit, so a change to a threshold applies to cached replies too.
The file lives in the data dir and survives restarts; ``dlgrader cache clear`` empties it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dlgrader.errors import FeedbackError

log = logging.getLogger(__name__)

CACHE_FILE = "llm_cache.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    corpus_hash TEXT NOT NULL,
    question_id TEXT NOT NULL,
    answer_hash TEXT NOT NULL,
    reply TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created REAL NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0
)
"""


@dataclass(frozen=True)
class CacheKey:
    model: str
    prompt_version: str
    corpus_hash: str
    question_id: str
    answer_hash: str

    @classmethod
    def of(cls, *, model: str, prompt_version: str, corpus_hash: str, question_id: str,
           answer: str) -> CacheKey:
        return cls(model, prompt_version, corpus_hash, question_id,
                   hashlib.sha256(answer.encode("utf-8")).hexdigest())

    @property
    def digest(self) -> str:
        parts = [self.model, self.prompt_version, self.corpus_hash, self.question_id, self.answer_hash]
        return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedReply:
    reply: str
    prompt_tokens: int
    completion_tokens: int


class FeedbackCache:
    """A thread-safe SQLite cache of model replies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise FeedbackError(f"cannot open the LLM cache {path}: {exc}") from exc

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> FeedbackCache:
        return cls(data_dir / CACHE_FILE)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = sqlite3.connect(self.path, timeout=10)
            try:
                with db:  # commits, or rolls back on error
                    yield db
            finally:
                db.close()

    def get(self, key: CacheKey) -> CachedReply | None:
        """The stored reply, or None (also when the file is unreadable: a cache never stops feedback)."""
        try:
            with self._connect() as db:
                row = db.execute("SELECT reply, prompt_tokens, completion_tokens FROM replies WHERE key = ?",
                                 (key.digest,)).fetchone()
                if row is None:
                    return None
                db.execute("UPDATE replies SET hits = hits + 1 WHERE key = ?", (key.digest,))
        except sqlite3.Error as exc:
            log.warning("LLM cache read failed (%s); asking the model", exc)
            return None
        return CachedReply(row[0], int(row[1]), int(row[2]))

    def put(self, key: CacheKey, reply: str, *, prompt_tokens: int, completion_tokens: int) -> None:
        try:
            self._insert(key, reply, prompt_tokens, completion_tokens)
        except sqlite3.Error as exc:
            log.warning("LLM cache write failed (%s); the reply is not cached", exc)

    def _insert(self, key: CacheKey, reply: str, prompt_tokens: int, completion_tokens: int) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO replies (key, model, prompt_version, corpus_hash, question_id, "
                "answer_hash, reply, prompt_tokens, completion_tokens, created, hits) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                (key.digest, key.model, key.prompt_version, key.corpus_hash, key.question_id, key.answer_hash,
                 reply, prompt_tokens, completion_tokens, time.time()))

    def contains(self, key: CacheKey) -> bool:
        with self._connect() as db:
            return db.execute("SELECT 1 FROM replies WHERE key = ?", (key.digest,)).fetchone() is not None

    def clear(self) -> int:
        """Delete every entry; returns how many there were."""
        with self._connect() as db:
            count = int(db.execute("SELECT COUNT(*) FROM replies").fetchone()[0])
            db.execute("DELETE FROM replies")
        with self._lock:
            db = sqlite3.connect(self.path)
            try:
                db.execute("VACUUM")
            finally:
                db.close()
        return count

    def stats(self) -> dict[str, object]:
        """Entries, hits served, tokens saved and a breakdown by model and prompt version."""
        with self._connect() as db:
            total, hits, saved_in, saved_out = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(hits), 0), COALESCE(SUM(hits * prompt_tokens), 0), "
                "COALESCE(SUM(hits * completion_tokens), 0) FROM replies").fetchone()
            groups = db.execute("SELECT model, prompt_version, COUNT(*) FROM replies "
                                "GROUP BY model, prompt_version ORDER BY model, prompt_version").fetchall()
        return {"path": str(self.path), "entries": int(total), "hits": int(hits),
                "bytes": self.path.stat().st_size if self.path.exists() else 0,
                "tokens_saved": {"prompt": int(saved_in), "completion": int(saved_out)},
                "by_model": [{"model": m, "prompt_version": v, "entries": int(n)} for m, v, n in groups]}
