"""The server's handle on the practice database: the same SQLite file as ``dlgrader practice`` uses (in the
data directory), opened on first use, one operation at a time in a worker thread.

SQLite serialises writers across processes itself (the store's BEGIN IMMEDIATE and busy timeout); the lock
here only keeps this process's threads off the one connection at the same moment. A database that cannot
be opened is an error of that request (503 with the reason), not of the server.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from anyio import to_thread

from dlgrader.api.errors import ApiError
from dlgrader.errors import ProgressStoreError
from dlgrader.progress import ProgressStore

T = TypeVar("T")


class PracticeStore:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._store: ProgressStore | None = None
        self._lock = threading.Lock()

    async def run(self, operation: Callable[[ProgressStore], T]) -> T:
        """Run ``operation`` on the store in a worker thread (blocking waits for a busy file stay off the
        event loop)."""
        return await to_thread.run_sync(self._run, operation)

    def _run(self, operation: Callable[[ProgressStore], T]) -> T:
        with self._lock:
            if self._store is None:
                try:
                    self._store = ProgressStore.open(self.data_dir)
                except ProgressStoreError as exc:
                    raise ApiError(503, "progress_unavailable", f"The progress database cannot be opened: "
                                   f"{exc}", {}) from exc
            try:
                return operation(self._store)
            except ProgressStoreError as exc:
                if type(exc) is not ProgressStoreError:
                    raise  # AttemptNotFound, RatingLocked: the route turns them into 404 and 409
                raise ApiError(503, "progress_unavailable", f"The progress database failed: {exc}", {}) from exc
            except sqlite3.Error as exc:  # e.g. locked by another process for longer than the busy timeout
                raise ApiError(503, "progress_unavailable", f"The progress database is busy or failed: {exc}; "
                               "retry shortly.", {}, headers={"Retry-After": "5"}) from exc

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
